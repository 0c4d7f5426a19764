// `strata commit` and `strata image export --to oci:` against the tools that
// read OCI layouts: skopeo must read the image Strata wrote (same manifest,
// same layer digests) and umoci must unpack it to the tree that was
// committed, with gzip and with zstd layers (umoci 0.4 reads no zstd:
// skopeo converts those to gzip first, so zstd is read by a real tool too).
// Needs root (owners, setuid, umoci unpack as root).
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireProgram } from "./_daemons.ts";
import {
  buildBaseTree,
  buildChildTree,
  committedTree,
  layoutBlob,
  layoutManifest,
  layoutManifestDesc,
  refTree,
  strata,
  strataOk,
} from "./_images.ts";
import { mustRun, requireRoot } from "./_layer_fixture.ts";
import { compareTrees, snapshotTree, type TreeEntry } from "./_tree.ts";

const GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
const ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";

let work: string;
let root: string;
let baseTree: TreeEntry[];
let childTree: TreeEntry[];
let baseRef: string;
let childRef: string;
let n = 0;

async function fresh(name: string): Promise<string> {
  const dir = join(work, `${name}-${++n}`);
  await mkdir(dir);
  return dir;
}

/** `umoci unpack` of `layout:tag`; returns the rootfs. */
async function unpack(layout: string, tag: string): Promise<string> {
  const bundle = join(await fresh("bundle"), "b");
  await mustRun("umoci", ["unpack", "--image", `${layout}:${tag}`, bundle]);
  return join(bundle, "rootfs");
}

/** `skopeo inspect` (parsed) and `skopeo inspect --raw` (the manifest bytes as text). */
async function inspect(
  ref: string,
): Promise<{ info: { Digest: string; Layers: string[] }; raw: string }> {
  const info = JSON.parse(await mustRun("skopeo", ["inspect", ref])) as {
    Digest: string;
    Layers: string[];
  };
  const raw = await mustRun("skopeo", ["inspect", "--raw", ref]);
  return { info, raw };
}

beforeAll(async () => {
  requireRoot();
  for (const p of ["skopeo", "umoci", "setfattr", "tar"]) await requireProgram(p);
  work = await mkdtemp(join(tmpdir(), "e2e-images-oci-"));
  root = join(work, "root");
  const base = join(work, "base");
  const child = join(work, "child");
  await mkdir(base);
  await buildBaseTree(base);
  await buildChildTree(base, child);
  baseTree = snapshotTree(base);
  childTree = committedTree(child);
  baseRef = await strataOk(root, ["commit", base]);
  childRef = await strataOk(root, ["commit", child, "--parent", baseRef]);
}, 120_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("strata commit", () => {
  it("prints a new ref id per commit, and ref ls lists both", async () => {
    expect(baseRef).toMatch(/^\S+$/);
    expect(childRef).toMatch(/^\S+$/);
    expect(childRef).not.toBe(baseRef);
    const ls = await strata(root, ["ref", "ls"]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain(baseRef);
    expect(ls.stdout).toContain(childRef);
    const info = await strata(root, ["ref", "info", childRef]);
    expect(info.code, info.stderr).toBe(0);
    expect(info.stdout).toContain(baseRef); // its parent
  });

  it("fails clearly for a directory that does not exist or a parent that does not", async () => {
    const missing = await strata(root, ["commit", join(work, "no-such-dir")]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no-such-dir/);
    const badParent = await strata(root, ["commit", join(work, "base"), "--parent", "no-such-ref"]);
    expect(badParent.code).not.toBe(0);
    expect(badParent.stderr).toMatch(/no-such-ref/);
    expect(badParent.stderr).toMatch(/not.?found/i);
  });
});

describe("strata image export --to oci: (gzip)", () => {
  let layout: string;
  let printed: string;

  beforeAll(async () => {
    layout = join(await fresh("gzip"), "layout");
    printed = await strataOk(root, ["image", "export", childRef, "--to", `oci:${layout}:v1`]);
  }, 120_000);

  it("prints the manifest digest that the layout's index tags", async () => {
    expect(printed).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await layoutManifestDesc(layout, "v1")).digest).toBe(printed);
  });

  it("writes two gzip layers whose config lists their diff IDs", async () => {
    const manifest = await layoutManifest(layout, "v1");
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([GZIP, GZIP]);
    const config = JSON.parse((await layoutBlob(layout, manifest.config.digest)).toString()) as {
      rootfs: { type: string; diff_ids: string[] };
      history?: unknown[];
    };
    expect(config.rootfs.type).toBe("layers");
    expect(config.rootfs.diff_ids).toHaveLength(2);
    for (const l of manifest.layers)
      expect((await layoutBlob(layout, l.digest)).length).toBe(l.size);
  });

  it("is read by skopeo inspect with the same manifest and layer digests", async () => {
    const manifest = await layoutManifest(layout, "v1");
    const { info, raw } = await inspect(`oci:${layout}:v1`);
    expect(info.Digest).toBe(printed);
    expect(info.Layers).toEqual(manifest.layers.map((l) => l.digest));
    expect(raw.trim()).toBe((await layoutBlob(layout, printed)).toString().trim());
  });

  it("umoci unpacks it to the committed child tree (deletions applied)", async () => {
    const rootfs = await unpack(layout, "v1");
    expect(compareTrees(childTree, snapshotTree(rootfs))).toEqual([]);
  }, 60_000);

  it("umoci unpacks an export of the base ref to the base tree", async () => {
    const baseLayout = join(await fresh("gzip-base"), "layout");
    await strataOk(root, ["image", "export", baseRef, "--to", `oci:${baseLayout}:base`]);
    const manifest = await layoutManifest(baseLayout, "base");
    const child = await layoutManifest(layout, "v1");
    // The child's bottom layer is the base's only layer: the same blob.
    expect(manifest.layers).toEqual(child.layers.slice(0, 1));
    const rootfs = await unpack(baseLayout, "base");
    expect(compareTrees(baseTree, snapshotTree(rootfs))).toEqual([]);
  }, 60_000);

  it("imports back (not lazily: unpacked at once) into a fresh root as the committed tree", async () => {
    const other = join(await fresh("import-gzip"), "root");
    const top = await strataOk(other, ["image", "import", `oci:${layout}:v1`]);
    expect(compareTrees(childTree, await refTree(other, top))).toEqual([]);
    const info = JSON.parse(await strataOk(other, ["ref", "info", top], { all: true })) as {
      lazy: boolean;
      parent?: string;
    };
    expect(info.lazy).toBe(false);
    expect(info.parent).toBeDefined(); // two layers: two refs
  }, 60_000);

  it("a second export to the same layout writes the same manifest", async () => {
    const again = await strataOk(root, ["image", "export", childRef, "--to", `oci:${layout}:v1`]);
    expect(again).toBe(printed);
  }, 60_000);

  it("fails clearly for an unknown ref and a malformed target", async () => {
    const unknown = await strata(root, [
      "image",
      "export",
      "no-such-ref",
      "--to",
      `oci:${layout}:x`,
    ]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no-such-ref/);
    const bad = await strata(root, ["image", "export", childRef, "--to", "ftp:somewhere"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ftp:somewhere/);
  });
});

describe("strata image export --to oci: (zstd)", () => {
  let layout: string;
  let printed: string;

  beforeAll(async () => {
    layout = join(await fresh("zstd"), "layout");
    printed = await strataOk(root, [
      "image",
      "export",
      childRef,
      "--to",
      `oci:${layout}:v1`,
      "--compression",
      "zstd",
      "--force-compression",
    ]);
  }, 120_000);

  it("writes zstd layers with the same diff IDs as the gzip export", async () => {
    const manifest = await layoutManifest(layout, "v1");
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([ZSTD, ZSTD]);
    const gz = join(await fresh("gzip-again"), "layout");
    await strataOk(root, ["image", "export", childRef, "--to", `oci:${gz}:v1`]);
    const diffIDs = async (dir: string) => {
      const m = await layoutManifest(dir, "v1");
      return (
        JSON.parse((await layoutBlob(dir, m.config.digest)).toString()) as {
          rootfs: { diff_ids: string[] };
        }
      ).rootfs.diff_ids;
    };
    expect(await diffIDs(layout)).toEqual(await diffIDs(gz));
    // Without --force-compression, the existing gzip blobs are reused as they are.
    const gzLayers = (await layoutManifest(gz, "v1")).layers;
    expect(gzLayers.map((l) => l.mediaType)).toEqual([GZIP, GZIP]);
    expect(gzLayers.map((l) => l.digest)).not.toEqual(manifest.layers.map((l) => l.digest));
  }, 60_000);

  it("is read by skopeo inspect with the same digests", async () => {
    const manifest = await layoutManifest(layout, "v1");
    const { info } = await inspect(`oci:${layout}:v1`);
    expect(info.Digest).toBe(printed);
    expect(info.Layers).toEqual(manifest.layers.map((l) => l.digest));
  });

  it("imports back into a fresh root as the committed tree", async () => {
    const other = join(await fresh("import-zstd"), "root");
    const top = await strataOk(other, ["image", "import", `oci:${layout}:v1`]);
    expect(compareTrees(childTree, await refTree(other, top))).toEqual([]);
  }, 60_000);

  it("skopeo decompresses it (to gzip) and umoci unpacks that to the committed tree", async () => {
    const converted = join(await fresh("zstd-to-gzip"), "layout");
    await mustRun("skopeo", [
      "copy",
      "--dest-compress",
      "--dest-compress-format",
      "gzip",
      `oci:${layout}:v1`,
      `oci:${converted}:v1`,
    ]);
    const rootfs = await unpack(converted, "v1");
    expect(compareTrees(childTree, snapshotTree(rootfs))).toEqual([]);
  }, 60_000);
});
