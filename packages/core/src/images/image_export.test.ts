import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFailedPrecondition, isInvalidArgument, isNotFound } from "@strata/errdefs";
import { type ImageIndex, type ImageManifest, MediaType, parseImageConfig } from "@strata/oci";
import { withMounts } from "@strata/snapshots";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StrataRoot } from "../strata_root.ts";
import { readTree } from "./_test_registry.ts";

let tmp: string;
let source: StrataRoot;
let target: StrataRoot;
let base: string;
let top: string;

async function treeOf(root: StrataRoot, id: string): Promise<Record<string, string>> {
  const cm = await root.cacheManager("default");
  const ref = await cm.get(id);
  try {
    const mounts = await ref.mount();
    const [only] = mounts;
    if (mounts.length === 1 && only !== undefined && only.type === "bind") {
      return await readTree(only.source);
    }
    return await withMounts(mounts, (dir) => readTree(dir), { readonly: true });
  } finally {
    await ref.release();
  }
}

async function blobJSON<T>(layout: string, digest: string): Promise<T> {
  return JSON.parse(
    await readFile(join(layout, "blobs", "sha256", digest.slice("sha256:".length)), "utf8"),
  ) as T;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "strata-core-export-"));
  source = await StrataRoot.open(join(tmp, "a"), { snapshotter: "native" });
  target = await StrataRoot.open(join(tmp, "b"), { snapshotter: "native" });
  const d1 = join(tmp, "d1");
  await mkdir(join(d1, "etc"), { recursive: true });
  await writeFile(join(d1, "etc", "hostname"), "strata\n");
  await writeFile(join(d1, "run.sh"), "#!/bin/sh\necho hi\n");
  await chmod(join(d1, "run.sh"), 0o755);
  await symlink("etc/hostname", join(d1, "name"));
  const d2 = join(tmp, "d2");
  await mkdir(join(d2, "etc"), { recursive: true });
  await writeFile(join(d2, "etc", "hostname"), "changed\n");
  await writeFile(join(d2, "big.bin"), Buffer.alloc(3 << 20, 7));
  const cache = source.session("default").cache;
  base = (await cache.commitDirectory(d1, { description: "base" })).id;
  top = (await cache.commitDirectory(d2, { parent: base, description: "top" })).id;
});

afterAll(async () => {
  await source?.close();
  await target?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe("exportImage", () => {
  it("writes an OCI layout whose manifest and config describe the ref's chain", async () => {
    const out = join(tmp, "layout1");
    const result = await source.session("default").cache.exportImage(top, `oci:${out}:v1`);
    expect(result.target).toBe(`oci:${out}:v1`);
    expect(result.layers).toHaveLength(2);
    expect(result.blobsSent).toBe(3);
    expect(JSON.parse(await readFile(join(out, "oci-layout"), "utf8"))).toEqual({
      imageLayoutVersion: "1.0.0",
    });
    const index = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as ImageIndex;
    expect(index.manifests).toEqual([
      {
        ...result.manifest,
        annotations: { "org.opencontainers.image.ref.name": "v1" },
      },
    ]);
    const manifest = await blobJSON<ImageManifest>(out, result.manifest.digest);
    expect(manifest.mediaType).toBe(MediaType.OCI_MANIFEST);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([
      MediaType.OCI_LAYER_GZIP,
      MediaType.OCI_LAYER_GZIP,
    ]);
    const config = parseImageConfig(
      await readFile(join(out, "blobs", "sha256", result.config.digest.slice(7))),
    );
    const info = await source.session("default").cache.refInfo(top);
    const baseInfo = await source.session("default").cache.refInfo(base);
    expect(config.rootfs.diff_ids).toEqual([baseInfo.diffID, info.diffID]);
    expect(config.history?.map((h) => h.created_by)).toEqual(["base", "top"]);
    expect(manifest.layers.map((l) => l.digest)).toEqual([baseInfo.blob, info.blob]);
  });

  it("sends nothing again and gives the same digest on a second export", async () => {
    const out = join(tmp, "layout2");
    const cache = source.session("default").cache;
    const first = await cache.exportImage(top, `oci:${out}`);
    const second = await cache.exportImage(top, `oci:${out}`);
    expect(second.blobsSent).toBe(0);
    expect(second.manifest.digest).toBe(first.manifest.digest);
    const index = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as ImageIndex;
    expect(
      index.manifests.map((d) => d.annotations?.["org.opencontainers.image.ref.name"]),
    ).toEqual(["latest"]);
  });

  it("converts every layer with forceCompression and keeps the diffIDs", async () => {
    const cache = source.session("default").cache;
    const gz = await cache.exportImage(top, `oci:${join(tmp, "layout-gz")}`);
    const zst = await cache.exportImage(top, `oci:${join(tmp, "layout-zstd")}`, {
      compression: "zstd",
      forceCompression: true,
    });
    expect(zst.layers.map((l) => l.mediaType)).toEqual([
      MediaType.OCI_LAYER_ZSTD,
      MediaType.OCI_LAYER_ZSTD,
    ]);
    expect(zst.layers[0]?.digest).not.toBe(gz.layers[0]?.digest);
    const a = parseImageConfig(
      await readFile(join(tmp, "layout-gz", "blobs", "sha256", gz.config.digest.slice(7))),
    );
    const b = parseImageConfig(
      await readFile(join(tmp, "layout-zstd", "blobs", "sha256", zst.config.digest.slice(7))),
    );
    expect(b.rootfs.diff_ids).toEqual(a.rootfs.diff_ids);
  });

  it("fails with NotFound for an unknown ref and InvalidArgument for a bad target", async () => {
    const cache = source.session("default").cache;
    const e1 = await cache.exportImage("nope", `oci:${join(tmp, "x")}`).catch((e: unknown) => e);
    expect(isNotFound(e1)).toBe(true);
    const e2 = await cache.exportImage(top, "docker://x/y").catch((e: unknown) => e);
    expect(isInvalidArgument(e2)).toBe(true);
    const e3 = await cache
      .exportImage(top, `registry:127.0.0.1:1/x@sha256:${"0".repeat(64)}`)
      .catch((e: unknown) => e);
    expect(isInvalidArgument(e3)).toBe(true);
  });
});

describe("importImage", () => {
  it("imports an exported layout into another root with the same chain IDs and tree", async () => {
    const out = join(tmp, "layout-rt");
    const cache = source.session("default").cache;
    await cache.exportImage(top, `oci:${out}:rt`);
    const imported = await target.session("default").cache.importImage(`oci:${out}:rt`);
    expect(imported.refs).toHaveLength(2);
    expect(imported.ref).toBe(imported.refs[1]);
    const want = await cache.refInfo(top);
    const got = await target.session("default").cache.refInfo(imported.ref);
    expect(got.chainID).toBe(want.chainID);
    expect(got.blobChainID).toBe(want.blobChainID);
    expect(got.lazy).toBe(false);
    expect(imported.chainID).toBe(want.chainID);
    const tree = await treeOf(target, imported.ref);
    expect(tree).toEqual(await treeOf(source, top));
    expect(tree["etc/hostname"]).toBe(`file 644 ${Buffer.from("changed\n").toString("base64")}`);
    expect(tree.name).toBe("link etc/hostname");
    expect(tree["run.sh"]?.startsWith("file 755 ")).toBe(true);
  });

  it("round-trips zstd layers", async () => {
    const out = join(tmp, "layout-rt-zstd");
    await source.session("default").cache.exportImage(top, `oci:${out}`, {
      compression: "zstd",
      forceCompression: true,
    });
    const other = await StrataRoot.open(join(tmp, "c"), { snapshotter: "native" });
    try {
      const imported = await other.session("default").cache.importImage(`oci:${out}`);
      expect((await other.session("default").cache.refInfo(imported.ref)).chainID).toBe(
        (await source.session("default").cache.refInfo(top)).chainID,
      );
      expect(await treeOf(other, imported.ref)).toEqual(await treeOf(source, top));
    } finally {
      await other.close();
    }
  });

  it("leaves an OCI import lazy when asked and unpacks it on first mount", async () => {
    const out = join(tmp, "layout-lazy");
    await source.session("default").cache.exportImage(top, `oci:${out}`);
    const other = await StrataRoot.open(join(tmp, "d"), { snapshotter: "native" });
    try {
      const imported = await other.session("default").cache.importImage(`oci:${out}`, {
        lazy: true,
      });
      expect((await other.session("default").cache.refInfo(imported.ref)).lazy).toBe(true);
      expect(await treeOf(other, imported.ref)).toEqual(await treeOf(source, top));
    } finally {
      await other.close();
    }
  });

  it("fails clearly on a missing layout, a missing tag and an image without layers", async () => {
    const cache = target.session("default").cache;
    const e1 = await cache.importImage(`oci:${join(tmp, "absent")}`).catch((e: unknown) => e);
    expect(isNotFound(e1)).toBe(true);
    const out = join(tmp, "layout1");
    const e2 = await cache.importImage(`oci:${out}:nosuchtag`).catch((e: unknown) => e);
    expect(isNotFound(e2)).toBe(true);
    const e3 = await cache.importImage("nonsense").catch((e: unknown) => e);
    expect(isInvalidArgument(e3)).toBe(true);
  });
});

describe("commitDirectory", () => {
  it("rejects a file and a missing directory", async () => {
    const cache = source.session("default").cache;
    const file = join(tmp, "d1", "run.sh");
    expect(isInvalidArgument(await cache.commitDirectory(file).catch((e: unknown) => e))).toBe(
      true,
    );
    expect(
      isNotFound(await cache.commitDirectory(join(tmp, "nope")).catch((e: unknown) => e)),
    ).toBe(true);
    expect(
      isNotFound(
        await cache.commitDirectory(join(tmp, "d1"), { parent: "nope" }).catch((e: unknown) => e),
      ),
    ).toBe(true);
  });

  it("records a retained, committed layer on its parent", async () => {
    const info = await source.session("default").cache.refInfo(top);
    expect(info).toMatchObject({ kind: "layer", parent: base, cachePolicy: "retain", lazy: false });
    expect(info.description).toBe("top");
  });
});

describe("removeRefs", () => {
  it("refuses a parent without its child, then removes both", async () => {
    const cache = source.session("default").cache;
    const a = await cache.commitDirectory(join(tmp, "d1"));
    const b = await cache.commitDirectory(join(tmp, "d2"), { parent: a.id });
    const e = await cache.removeRefs([a.id]).catch((err: unknown) => err);
    expect(isFailedPrecondition(e)).toBe(true);
    const removed = await cache.removeRefs([a.id, b.id]);
    expect(removed.map((u) => u.id).sort()).toEqual([a.id, b.id].sort());
    expect(isNotFound(await cache.refInfo(a.id).catch((err: unknown) => err))).toBe(true);
    expect(isNotFound(await cache.removeRefs(["nope"]).catch((err: unknown) => err))).toBe(true);
  });
});

describe("diskUsage and prune", () => {
  it("lists records with sizes and prunes what the filter selects", async () => {
    const cache = source.session("default").cache;
    const c = await cache.commitDirectory(join(tmp, "d1"), { description: "prune me" });
    const du = await cache.diskUsage();
    const row = du.find((u) => u.id === c.id);
    expect(row?.size).toBeGreaterThan(0);
    expect(row?.description).toBe("prune me");
    const refs = await cache.refs();
    expect(refs.map((r) => r.id)).toContain(c.id);
    const removed = await cache.prune({ filters: ['description=="prune me"'] });
    expect(removed.map((u) => u.id)).toEqual([c.id]);
    expect((await cache.refs()).map((r) => r.id)).not.toContain(c.id);
    expect(
      isInvalidArgument(await cache.prune({ keepDuration: -1 }).catch((e: unknown) => e)),
    ).toBe(true);
    expect(
      isInvalidArgument(await cache.diskUsage({ filters: ["id=="] }).catch((e: unknown) => e)),
    ).toBe(true);
  });
});
