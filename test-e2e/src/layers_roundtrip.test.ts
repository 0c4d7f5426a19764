// Layers through real tools and back: a tree with every kind of file goes
// through Strata's differ and GNU tar / umoci / gzip / zstd, and through
// their writers and Strata's applier; the trees must come out equal (modes,
// owners, binary xattrs, link targets, device numbers, contents, hardlink
// groups, mtimes at the precision the archive keeps). Needs root.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Compression, compress } from "@strata/compression";
import { LocalStore } from "@strata/content";
import { applyLayer, diffDirectories, writeLayer } from "@strata/diff";
import {
  type Descriptor,
  type Digest,
  type ImageManifest,
  MediaType,
  OciLayout,
} from "@strata/oci";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireProgram } from "./_daemons.ts";
import {
  buildRichTree,
  fileStream,
  mustRun,
  requireRoot,
  runProgram,
  writeStream,
} from "./_layer_fixture.ts";
import { compareTrees, snapshotTree, type TreeEntry } from "./_tree.ts";

const TAR_X = ["--xattrs", "--xattrs-include=*", "-xpf"];
const TAR_C = ["--xattrs", "--xattrs-include=*", "--numeric-owner", "--format=pax", "-cpf"];

let work: string;
let src: string;
let expected: TreeEntry[];
let n = 0;

/** A fresh empty directory under the test's work dir. */
async function fresh(name: string): Promise<string> {
  const dir = join(work, `${name}-${++n}`);
  await mkdir(dir);
  return dir;
}

beforeAll(async () => {
  requireRoot();
  for (const p of ["tar", "umoci", "gzip", "zstd", "mknod", "setfattr", "mkfifo"]) {
    await requireProgram(p);
  }
  work = await mkdtemp(join(tmpdir(), "e2e-layers-"));
  src = join(work, "src");
  await mkdir(src);
  await buildRichTree(src);
  expected = snapshotTree(src);
}, 60_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the fixture tree", () => {
  it("holds every kind of entry the round trips must keep", () => {
    const types = new Set(expected.map((e) => e.type));
    expect([...types].sort()).toEqual(["block", "char", "dir", "fifo", "file", "symlink"]);
    const byPath = new Map(expected.map((e) => [e.path, e]));
    expect(byPath.get("caps")?.xattrs["security.capability"]).toMatch(/^01000002/);
    expect(byPath.get("hello.txt")?.xattrs["user.binary"]).toBe("ff00fe80c3");
    expect(byPath.get("sub/hard-1")?.hardlinkOf).toBe("hello.txt");
    expect(byPath.get("tmp")?.mode).toBe(0o1777);
    expect(byPath.get("shared")?.mode).toBe(0o2775);
    expect(byPath.get("dev/loop-ish")?.device).toBe("7:0");
    expect(expected.some((e) => e.mtimeNs % 1_000_000_000n !== 0n)).toBe(true);
    expect(expected.some((e) => Buffer.byteLength(e.path) > 100)).toBe(true);
    expect(expected.some((e) => (e.link?.length ?? 0) > 100)).toBe(true);
  });
});

describe("Strata's layer through GNU tar", () => {
  for (const [compression, flag] of [
    ["uncompressed", []],
    ["gzip", ["--gzip"]],
    ["zstd", ["--zstd"]],
  ] as const) {
    it(`GNU tar extracts a ${compression} layer of the walking differ to an equal tree`, async () => {
      const layer = join(work, `strata-${compression}.tar`);
      await writeStream(layer, compress(diffDirectories(undefined, src), compression));
      const out = await fresh(`gnu-x-${compression}`);
      await mustRun("tar", [...flag, ...TAR_X, layer, "-C", out]);
      // The layer keeps whole seconds (containerd truncates mtimes).
      expect(compareTrees(expected, snapshotTree(out), { mtime: "seconds" })).toEqual([]);
    }, 60_000);
  }

  it("applying the layer back with Strata gives the same tree as GNU tar", async () => {
    const layer = join(work, "strata-back.tar.gz");
    await writeStream(layer, compress(diffDirectories(undefined, src), "gzip"));
    const [byTar, byStrata] = [await fresh("back-tar"), await fresh("back-strata")];
    await mustRun("tar", ["--gzip", ...TAR_X, layer, "-C", byTar]);
    await applyLayer(byStrata, fileStream(layer));
    expect(compareTrees(snapshotTree(byTar), snapshotTree(byStrata), { mtime: "exact" })).toEqual(
      [],
    );
  }, 60_000);
});

describe("GNU tar's layer through Strata's applier", () => {
  for (const [compression, flag] of [
    ["uncompressed", []],
    ["gzip", ["--gzip"]],
    ["zstd", ["--zstd"]],
  ] as const) {
    it(`applyLayer unpacks a ${compression} PAX archive from GNU tar to an equal tree`, async () => {
      const layer = join(work, `gnu-${compression}.tar`);
      await mustRun("tar", [...flag, ...TAR_C, layer, "-C", src, "."]);
      const out = await fresh(`strata-x-${compression}`);
      const result = await applyLayer(out, fileStream(layer));
      // PAX keeps nanoseconds; a float of seconds keeps about a tenth of a microsecond.
      expect(compareTrees(expected, snapshotTree(out), { mtime: "microseconds" })).toEqual([]);
      // The diffID is the sha256 of the tar as the real decompressor sees it.
      const cat = compression === "uncompressed" ? "cat" : `${compression} -dc`;
      const sum = await mustRun("sh", ["-c", `${cat} "$1" | sha256sum`, "sh", layer]);
      expect(result.diffID).toBe(`sha256:${sum.slice(0, 64)}`);
      expect(result.size).toBeGreaterThan(24 << 20);
    }, 60_000);
  }
});

// --- umoci ---------------------------------------------------------------

interface Layer {
  descriptor: Descriptor;
  diffID: Digest;
}

/** Writes an image (config, manifest, tag) of `layers` into the layout at `dir`. */
async function writeImage(dir: string, tag: string, layers: Layer[]): Promise<void> {
  const layout = await OciLayout.create(dir);
  const json = async (mediaType: string, value: unknown): Promise<Descriptor> => {
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    const { digest, size } = await layout.putBlob(
      (async function* () {
        yield bytes;
      })(),
    );
    return { mediaType, digest, size };
  };
  const config = await json(MediaType.OCI_CONFIG, {
    architecture: "amd64",
    os: "linux",
    config: {},
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffID) },
    history: layers.map(() => ({ created_by: "strata e2e" })),
  });
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config,
    layers: layers.map((l) => l.descriptor),
  };
  await layout.tag(tag, await json(MediaType.OCI_MANIFEST, manifest));
}

/** Strata's walking differ into the layout's blobs through writeLayer. */
async function strataLayer(
  dir: string,
  lower: string | undefined,
  upper: string,
  compression: Compression,
): Promise<Layer> {
  // A content store on the layout: its blobs/ is the layout's blobs/.
  const store = await LocalStore.open(dir, { labels: false });
  const layer = await writeLayer(store, diffDirectories(lower, upper), { compression });
  await rm(join(dir, "ingest"), { recursive: true, force: true });
  return layer;
}

/** The layers of `tag` in the layout at `dir`, in order, as Strata reads them. */
async function imageLayers(dir: string, tag: string): Promise<Descriptor[]> {
  const layout = await OciLayout.open(dir);
  const desc = await layout.resolve(tag);
  const bytes = await readFile(layout.blobPath(desc.digest));
  return (JSON.parse(bytes.toString()) as ImageManifest).layers;
}

describe("umoci and Strata", () => {
  it("umoci unpack of an image with Strata's gzip layer gives an equal rootfs", async () => {
    const image = await fresh("oci-gzip");
    const layer = await strataLayer(image, undefined, src, "gzip");
    expect(layer.descriptor.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    await writeImage(image, "v1", [layer]);
    const bundle = join(await fresh("bundle-gzip"), "b");
    await mustRun("umoci", ["unpack", "--image", `${image}:v1`, bundle]);
    // umoci is Go: archive/tar reads a PAX record with an empty value as
    // "delete the key" (as POSIX says), so an empty xattr does not survive.
    const options = { ignoreXattrs: ["user.empty"] };
    expect(compareTrees(expected, snapshotTree(join(bundle, "rootfs")), options)).toEqual([]);
  }, 60_000);

  it("umoci 0.4 refuses a zstd layer by media type; Strata's zstd layer unpacks with zstd -d | tar", async () => {
    const image = await fresh("oci-zstd");
    const layer = await strataLayer(image, undefined, src, "zstd");
    expect(layer.descriptor.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    await writeImage(image, "v1", [layer]);
    const bundle = join(await fresh("bundle-zstd"), "b");
    const r = await runProgram("umoci", ["unpack", "--image", `${image}:v1`, bundle]);
    const version = await mustRun("umoci", ["--version"]);
    if (/version 0\.4\./.test(version)) {
      // umoci learned zstd in 0.5; 0.4.7 (Debian 12) names the media type it does not know.
      expect(r.code, r.stderr).not.toBe(0);
      expect(r.stderr).toMatch(/tar\+zstd/);
      const out = await fresh("zstd-cli");
      const blob = join(image, "blobs", "sha256", layer.descriptor.digest.slice(7));
      await mustRun("sh", [
        "-c",
        'zstd -dc "$1" | tar "$2" "$3" "$4" - -C "$5"',
        "sh",
        blob,
        ...TAR_X,
        out,
      ]);
      expect(compareTrees(expected, snapshotTree(out))).toEqual([]);
    } else {
      expect(r.code, r.stderr).toBe(0);
      expect(compareTrees(expected, snapshotTree(join(bundle, "rootfs")))).toEqual([]);
    }
  }, 60_000);

  it("Strata applies the layer umoci insert makes of the tree", async () => {
    const image = join(await fresh("oci-insert"), "image");
    await mustRun("umoci", ["init", "--layout", image]);
    await mustRun("umoci", ["new", "--image", `${image}:base`]);
    await mustRun("umoci", ["insert", "--image", `${image}:base`, "--tag", "inserted", src, "/"]);
    const layers = await imageLayers(image, "inserted");
    expect(layers.length).toBe(1);
    const out = await fresh("insert-applied");
    for (const l of layers) {
      await applyLayer(out, fileStream(join(image, "blobs", "sha256", l.digest.slice(7))));
    }
    // umoci 0.4.7's insert layer lacks its end-of-archive blocks (umoci#436,
    // fixed in umoci#534): Strata accepts that as containerd does. Its
    // headers are Go's ustar: times rounded to seconds, empty xattrs dropped.
    const options = { mtime: "nearest-second", ignoreXattrs: ["user.empty"] } as const;
    expect(compareTrees(expected, snapshotTree(out), options)).toEqual([]);
  }, 60_000);

  it("Strata applies Strata's layer plus the layer umoci repack makes of changes (whiteouts)", async () => {
    const image = await fresh("oci-repack");
    const base = await strataLayer(image, undefined, src, "gzip");
    await writeImage(image, "v1", [base]);
    const bundle = join(await fresh("bundle-repack"), "b");
    await mustRun("umoci", ["unpack", "--image", `${image}:v1`, bundle]);
    const rootfs = join(bundle, "rootfs");
    // Changes: a delete, a deleted directory, a new file, a new xattr, a
    // changed mode and owner, a replaced symlink, a new device.
    await rm(join(rootfs, "exec.sh"));
    await rm(join(rootfs, "private"), { recursive: true });
    await writeFile(join(rootfs, "sub/new-file"), "added by repack\n");
    await mustRun("setfattr", ["-n", "user.added", "-v", "0x00ff", join(rootfs, "shared/readme")]);
    await mustRun("chmod", ["0600", join(rootfs, "hello.txt")]);
    await mustRun("chown", ["-h", "4242:4343", join(rootfs, "links/dangling")]);
    await rm(join(rootfs, "links/relative"));
    await mustRun("ln", ["-s", "/somewhere/else", join(rootfs, "links/relative")]);
    await mustRun("mknod", ["-m", "0600", join(rootfs, "dev/tty-ish"), "c", "5", "0"]);
    const want = snapshotTree(rootfs);
    await mustRun("umoci", ["repack", "--image", `${image}:v2`, bundle]);
    const layers = await imageLayers(image, "v2");
    expect(layers.length).toBe(2);
    expect(layers[0]?.digest).toBe(base.descriptor.digest);
    const out = await fresh("repack-applied");
    for (const l of layers) {
      await applyLayer(out, fileStream(join(image, "blobs", "sha256", l.digest.slice(7))));
    }
    // Go's ustar headers round times to the nearest second. umoci's layer
    // holds changed paths without their parent directories, so any unpacker
    // (GNU tar too) leaves those directories with the time of the apply.
    const options = {
      mtime: "nearest-second",
      dirMtimes: false,
      ignoreXattrs: ["user.empty"],
    } as const;
    expect(compareTrees(want, snapshotTree(out), options)).toEqual([]);
  }, 60_000);
});
