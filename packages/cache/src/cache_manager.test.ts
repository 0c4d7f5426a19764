import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { readBlob } from "@strata/content";
import { isFailedPrecondition, isInvalidArgument, isNotFound } from "@strata/errdefs";
import { chainID, type Descriptor, digestOf, LABEL_UNCOMPRESSED } from "@strata/oci";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { blobID, chainOf } from "./_ids.ts";
import { bindSource, openTestCache, type TestCache, writeFiles } from "./_testing.ts";
import { CacheManager } from "./cache_manager.ts";
import { LABEL_BLOB_VARIANT_PREFIX } from "./labels.ts";
import type { ImmutableRef } from "./refs.ts";

async function makeRef(
  cm: CacheManager,
  parent: ImmutableRef | undefined,
  files: Record<string, string>,
): Promise<ImmutableRef> {
  const m = await cm.new(parent, { description: Object.keys(files).join(",") });
  await writeFiles(bindSource(await m.mount()), files);
  return m.commit();
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("CacheManager", () => {
  let t: TestCache;
  beforeEach(async () => {
    t = await openTestCache("native");
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it("commits lazily and finalizes when a blob is needed", async () => {
    const ref = await makeRef(t.cm, undefined, { "a.txt": "hello" });
    const before = ref.info();
    expect(before.committed).toBe(true);
    expect(before.equalMutable).toBeDefined();
    expect(before.blob).toBeUndefined();
    await t.cm.computeBlobChain(ref);
    const after = ref.info();
    expect(after.equalMutable).toBeUndefined();
    expect(after.blob).toBeDefined();
    expect((await t.snapshotter.stat(after.snapshotID)).kind).toBe("committed");
    // The mutable record is gone once finalized.
    expect(t.cm.records.list().map((r) => r.id)).toEqual([ref.id]);
    await ref.release();
  });

  it("reads a committed ref's tree through read-only mounts", async () => {
    const base = await makeRef(t.cm, undefined, { "a.txt": "one" });
    const child = await makeRef(t.cm, base, { "b.txt": "two" });
    await child.finalize();
    const mounts = await child.mount();
    expect(mounts[0]?.options).toContain("ro");
    const dir = bindSource(mounts);
    expect(await readFile(join(dir, "a.txt"), "utf8")).toBe("one");
    expect(await readFile(join(dir, "b.txt"), "utf8")).toBe("two");
    await child.release();
    await base.release();
    // The view goes with the last handle.
    expect(isNotFound(await rejection(t.snapshotter.stat(`${child.id}-view`)))).toBe(true);
  });

  it("computes chain IDs and blob chain IDs as BuildKit does", async () => {
    const base = await makeRef(t.cm, undefined, { "a.txt": "one" });
    const child = await makeRef(t.cm, base, { "b.txt": "two" });
    const [remote] = await t.cm.getRemotes(child);
    expect(remote?.descriptors).toHaveLength(2);
    const b = base.info();
    const c = child.info();
    if (!b.blob || !b.diffID || !c.blob || !c.diffID) throw new Error("blobs missing");
    expect(b.chainID).toBe(b.diffID);
    expect(c.chainID).toBe(chainID([b.diffID, c.diffID]));
    expect(b.blobChainID).toBe(digestOf(`${b.blob} ${b.diffID}`));
    expect(c.blobChainID).toBe(chainOf(blobID(b.blob, b.diffID), blobID(c.blob, c.diffID)));
    expect(remote?.descriptors.map((d) => d.digest)).toEqual([b.blob, c.blob]);
    expect(remote?.descriptors[1]?.annotations?.[LABEL_UNCOMPRESSED]).toBe(c.diffID);
    expect(remote?.descriptors[0]?.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    await child.release();
    await base.release();
  });

  it("creates new blobs in the compression asked for", async () => {
    const ref = await makeRef(t.cm, undefined, { a: "1" });
    const [remote] = await t.cm.getRemotes(ref, { compression: "zstd" });
    expect(remote?.descriptors[0]?.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    expect(t.cm.stats.conversions).toBe(0);
    await ref.release();
  });

  it("runs the differ once for eight concurrent callers", async () => {
    const base = await makeRef(t.cm, undefined, { "a.txt": "one" });
    const child = await makeRef(t.cm, base, { "b.txt": "two" });
    const refs = await Promise.all(Array.from({ length: 8 }, () => child.clone()));
    const remotes = await Promise.all(refs.map((r) => t.cm.getRemotes(r)));
    expect(t.cm.stats.differRuns).toBe(2);
    const digests = new Set(remotes.map((r) => r[0]?.descriptors.map((d) => d.digest).join()));
    expect(digests.size).toBe(1);
    await t.cm.getRemotes(child);
    expect(t.cm.stats.differRuns).toBe(2);
    for (const r of [...refs, child, base]) await r.release();
  });

  it("keeps chain IDs across compressions and links variants both ways", async () => {
    const ref = await makeRef(t.cm, undefined, { "a.txt": "x".repeat(1000) });
    const [gz] = await t.cm.getRemotes(ref, { compression: "gzip" });
    const [zst] = await t.cm.getRemotes(ref, { compression: "zstd", force: true });
    const gzDesc = gz?.descriptors[0] as Descriptor;
    const zstDesc = zst?.descriptors[0] as Descriptor;
    expect(zstDesc.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    expect(zstDesc.digest).not.toBe(gzDesc.digest);
    expect(zstDesc.annotations?.[LABEL_UNCOMPRESSED]).toBe(
      gzDesc.annotations?.[LABEL_UNCOMPRESSED],
    );
    expect(t.cm.stats.conversions).toBe(1);
    // force converts only what is missing
    await t.cm.getRemotes(ref, { compression: "zstd", force: true });
    expect(t.cm.stats.conversions).toBe(1);
    const main = await t.cm.content.info(gzDesc.digest);
    const variant = await t.cm.content.info(zstDesc.digest);
    expect(main.labels[`${LABEL_BLOB_VARIANT_PREFIX}${zstDesc.digest}`]).toBe(zstDesc.digest);
    expect(variant.labels[`${LABEL_BLOB_VARIANT_PREFIX}${gzDesc.digest}`]).toBe(gzDesc.digest);
    // The variant survives GC through the -variants lease and the labels.
    await t.cm.gc();
    expect((await t.cm.content.info(zstDesc.digest)).size).toBe(zstDesc.size);
    // A ref pulled from the zstd blob shares the chain ID, not the blob chain ID.
    const pulled = await t.cm.getByBlob(zstDesc);
    expect(pulled.id).not.toBe(ref.id);
    expect(pulled.info().chainID).toBe(ref.info().chainID);
    expect(pulled.info().blobChainID).not.toBe(ref.info().blobChainID);
    expect(pulled.info().snapshotID).toBe(ref.info().snapshotID);
    await pulled.release();
    await ref.release();
  });

  it("converts once for eight concurrent forced exports", async () => {
    const ref = await makeRef(t.cm, undefined, { a: "z".repeat(5000) });
    await t.cm.getRemotes(ref);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => t.cm.getRemotes(ref, { compression: "zstd", force: true })),
    );
    expect(t.cm.stats.conversions).toBe(1);
    expect(new Set(results.map((r) => r[0]?.descriptors[0]?.digest)).size).toBe(1);
    await ref.release();
  });

  it("yields every variant chain with all", async () => {
    const base = await makeRef(t.cm, undefined, { "a.txt": "one" });
    const child = await makeRef(t.cm, base, { "b.txt": "two" });
    await t.cm.getRemotes(child); // blobs created in gzip
    await t.cm.getRemotes(child, { compression: "zstd", force: true });
    const all = await t.cm.getRemotes(child, { compression: "zstd", all: true });
    const types = all.map((r) => r.descriptors.map((d) => d.mediaType.split("+")[1]).join("/"));
    expect(types[0]).toBe("gzip/gzip");
    expect(types.slice(1).sort()).toEqual(["gzip/zstd", "zstd/zstd"]);
    const limited = await t.cm.getRemotes(child, { all: true, limit: 2 });
    expect(limited).toHaveLength(2);
    await child.release();
    await base.release();
  });

  it("serves remote blobs through its provider", async () => {
    const ref = await makeRef(t.cm, undefined, { "a.txt": "abc" });
    const [remote] = await t.cm.getRemotes(ref, { compression: "uncompressed" });
    const desc = remote?.descriptors[0] as Descriptor;
    expect(desc.mediaType).toBe("application/vnd.oci.image.layer.v1.tar");
    const bytes = await readBlob(remote?.provider ?? t.cm.content, desc, { maxSize: 1 << 20 });
    expect(digestOf(bytes)).toBe(desc.digest);
    await ref.release();
  });

  it("fails with FailedPrecondition when blobs are missing and createIfNeeded is false", async () => {
    const ref = await makeRef(t.cm, undefined, { a: "1" });
    const err = await rejection(t.cm.getRemotes(ref, { createIfNeeded: false }));
    expect(isFailedPrecondition(err)).toBe(true);
    await ref.release();
  });

  it("holds what refs use against GC and frees it after prune", async () => {
    const ref = await makeRef(t.cm, undefined, { "a.txt": "keep me" });
    const [remote] = await t.cm.getRemotes(ref);
    const digest = remote?.descriptors[0]?.digest as Descriptor["digest"];
    await t.cm.gc();
    expect((await t.cm.content.info(digest)).digest).toBe(digest);
    const resources = await t.db.leases("test").listResources({ id: ref.id });
    expect(resources).toContainEqual({ type: "content", id: digest });
    expect(resources).toContainEqual({ type: "snapshots/native", id: ref.info().snapshotID });
    // In use: prune removes nothing.
    expect(await t.cm.prune({ all: true })).toEqual([]);
    await ref.release();
    const snapshotID = ref.info().snapshotID;
    const removed = await t.cm.prune({ all: true });
    expect(removed.map((u) => u.id)).toEqual([ref.id]);
    expect(isNotFound(await rejection(t.cm.content.info(digest)))).toBe(true);
    expect(isNotFound(await rejection(t.snapshotter.stat(snapshotID)))).toBe(true);
    expect(t.cm.records.list()).toEqual([]);
    // Nothing is left in the backend either: GC removed the snapshot.
    const left: string[] = [];
    await t.backend.walk((info) => {
      left.push(info.name);
    });
    expect(left).toEqual([]);
  });

  it("rejects bad inputs", async () => {
    const noAnnotation = {
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: digestOf("x"),
      size: 1,
    };
    expect(isInvalidArgument(await rejection(t.cm.getByBlob(noAnnotation)))).toBe(true);
    const absent = { ...noAnnotation, annotations: { [LABEL_UNCOMPRESSED]: digestOf("y") } };
    expect(isFailedPrecondition(await rejection(t.cm.getByBlob(absent)))).toBe(true);
    expect(isNotFound(await rejection(t.cm.get("nope")))).toBe(true);
    expect(isInvalidArgument(await rejection(t.cm.merge([])))).toBe(true);
    const ref = await makeRef(t.cm, undefined, { a: "1" });
    await ref.release();
    expect(() => ref.clone()).toThrow(/released/);
    expect(isFailedPrecondition(await rejection(t.cm.new(ref)))).toBe(true);
  });

  it("gets committed twins of mutable records and locks mutable records in use", async () => {
    const m = await t.cm.new(undefined, { cachePolicy: "retain", recordType: "exec.cachemount" });
    expect(isFailedPrecondition(await rejection(t.cm.get(m.id)))).toBe(true);
    await m.release();
    expect(t.cm.records.get(m.id)?.usageCount).toBe(1);
    const again = await t.cm.getMutable(m.id);
    await writeFiles(bindSource(await again.mount()), { f: "1" });
    await again.release();
    const imm = await t.cm.get(m.id);
    expect(imm.info().equalMutable).toBe(m.id);
    await imm.release();
  });

  it("builds merge refs whose remotes stack the inputs' layers", async () => {
    const a = await makeRef(t.cm, undefined, { a: "1" });
    const b = await makeRef(t.cm, undefined, { b: "2" });
    const b2 = await makeRef(t.cm, b, { c: "3" });
    const merged = await t.cm.merge([a, b2]);
    expect(merged.info().mergeParents).toEqual([a.id, b2.id]);
    const [remote] = await t.cm.getRemotes(merged);
    expect(remote?.descriptors.map((d) => d.digest)).toEqual([
      a.info().blob,
      b.info().blob,
      b2.info().blob,
    ]);
    const ids = [a, b, b2].map((r) => r.info().diffID as Descriptor["digest"]);
    expect(merged.info().chainID).toBe(chainID(ids));
    const single = await t.cm.merge([a]);
    expect(single.id).toBe(a.id);
    const d = await t.cm.diff(b, b2);
    const [diffRemote] = await t.cm.getRemotes(d);
    expect(diffRemote?.descriptors.map((x) => x.digest)).toEqual([b2.info().blob]);
    for (const r of [d, single, merged, b2, b, a]) await r.release();
  });

  it("recovers after a crash: keeps committed and retained records, drops the rest", async () => {
    const ref = await makeRef(t.cm, undefined, { a: "1" });
    await t.cm.getRemotes(ref);
    await ref.release();
    const tomb = await makeRef(t.cm, undefined, { b: "2" });
    await tomb.finalize();
    await tomb.release();
    t.cm.records.update(tomb.id, (r) => {
      r.deleted = true;
    });
    const leaked = await t.cm.new(undefined); // never released: the process "dies"
    const kept = await t.cm.new(undefined, { cachePolicy: "retain" });
    await t.cm.close();
    const cm2 = await CacheManager.open({
      db: t.db,
      snapshotter: t.snapshotter,
      snapshotterName: "native",
    });
    try {
      expect(cm2.records.get(leaked.id)).toBeUndefined();
      expect(cm2.records.get(tomb.id)).toBeUndefined();
      expect(isNotFound(await rejection(t.snapshotter.stat(tomb.id)))).toBe(true);
      expect(cm2.records.get(kept.id)?.committed).toBe(false);
      const again = await cm2.get(ref.id);
      const [remote] = await cm2.getRemotes(again, { createIfNeeded: false });
      expect(remote?.descriptors[0]?.digest).toBe(again.info().blob);
      await again.release();
    } finally {
      await cm2.close();
    }
  });

  it("rejects a namespaced snapshotter of another namespace or name", async () => {
    const other = t.db.snapshotter("other", "native");
    expect(
      isInvalidArgument(
        await rejection(
          CacheManager.open({
            db: t.db,
            snapshotter: other,
            snapshotterName: "native",
            namespace: "test",
          }),
        ),
      ),
    ).toBe(true);
    expect(
      isInvalidArgument(
        await rejection(
          CacheManager.open({ db: t.db, snapshotter: other, snapshotterName: "overlayfs" }),
        ),
      ),
    ).toBe(true);
    expect(
      isInvalidArgument(
        await rejection(CacheManager.open({ db: t.db, snapshotter: other, snapshotterName: "" })),
      ),
    ).toBe(true);
    // Without a namespace option, the snapshotter's is used.
    const cm = await CacheManager.open({ db: t.db, snapshotter: other, snapshotterName: "native" });
    expect(cm.namespace).toBe("other");
    await cm.close();
    expect(t.cm.namespace).toBe("test");
  });
});

describe("CacheManager over a backend snapshotter", () => {
  it("works without the namespaced snapshotter (removal deletes snapshots itself)", async () => {
    const t = await openTestCache("native", { backend: true });
    try {
      const base = await makeRef(t.cm, undefined, { a: "1" });
      const top = await makeRef(t.cm, base, { b: "2" });
      const other = await makeRef(t.cm, undefined, { c: "3" });
      const merged = await t.cm.merge([top, other]);
      const dir = bindSource(await merged.mount());
      expect(await readFile(join(dir, "a"), "utf8")).toBe("1");
      expect(await readFile(join(dir, "c"), "utf8")).toBe("3");
      const [remote] = await t.cm.getRemotes(merged, { compression: "zstd" });
      expect(remote?.descriptors.length).toBe(3);
      for (const r of [merged, other, top, base]) await r.release();
      expect((await t.cm.prune({ all: true })).length).toBe(4);
      const left: string[] = [];
      await t.backend.walk((info) => {
        left.push(info.name);
      });
      expect(left).toEqual([]);
      let blobs = 0;
      await t.blobs.walk(() => {
        blobs++;
      });
      expect(blobs).toBe(0);
    } finally {
      await t.cleanup();
    }
  });
});
