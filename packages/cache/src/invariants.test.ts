import { unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Compression } from "@strata/compression";
import type { Descriptor } from "@strata/oci";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bindSource, openTestCache, readTree, type TestCache, writeFiles } from "./_testing.ts";
import { parentsOf } from "./disk_usage.ts";
import type { ImmutableRef } from "./refs.ts";

/** A small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return (((x ^ (x >>> 14)) >>> 0) / 4294967296) * n;
  };
}

async function treeOf(ref: ImmutableRef): Promise<Record<string, string>> {
  return readTree(bindSource(await ref.mount()));
}

/** Every live record's lease holds its snapshot and blob; its variants lease holds its variants. */
async function expectLeasesHold(t: TestCache): Promise<void> {
  const leases = t.db.leases("test");
  for (const r of t.cm.records.list()) {
    if (r.deleted) continue;
    const held = await t.cm.resourcesOf(r.id);
    const own = r.equalMutable ?? r.id;
    const resources = [
      ...(await leases.listResources({ id: own })),
      ...(r.blob === undefined ? [] : await leases.listResources({ id: r.id })),
    ];
    const variants = (await leases.list({ filters: [`id==${r.id}-variants`] })).length
      ? await leases.listResources({ id: `${r.id}-variants` })
      : [];
    if (held.snapshot !== undefined) {
      expect(resources).toContainEqual({ type: "snapshots/native", id: held.snapshot });
    }
    if (r.blob !== undefined) expect(resources).toContainEqual({ type: "content", id: r.blob });
    for (const d of held.blobs) {
      expect([...resources, ...variants]).toContainEqual({ type: "content", id: d });
    }
  }
}

/**
 * After GC: the namespace's snapshots are exactly the live records'
 * snapshots and their parents (plus views of refs in use), the backend has no more than that, and the
 * content is exactly the live records' blobs and variants.
 */
async function expectNoOrphans(t: TestCache): Promise<void> {
  await t.db.gc();
  const wantSnapshots = new Set<string>();
  const wantBlobs = new Set<string>();
  for (const r of t.cm.records.list()) {
    if (r.deleted) continue;
    const held = await t.cm.resourcesOf(r.id);
    let key = held.snapshot;
    while (key !== undefined && key !== "" && !wantSnapshots.has(key)) {
      wantSnapshots.add(key);
      key = (await t.snapshotter.stat(key)).parent;
    }
    for (const d of held.blobs) wantBlobs.add(d);
    // The read-only view of a record in use (it goes with the last handle).
    if (t.cm.inUse(r.id)) {
      await t.snapshotter.stat(`${r.id}-view`).then(
        () => wantSnapshots.add(`${r.id}-view`),
        () => {},
      );
    }
  }
  const snapshots: string[] = [];
  await t.snapshotter.walk((info) => {
    snapshots.push(info.name);
  });
  expect(snapshots.sort()).toEqual([...wantSnapshots].sort());
  let backend = 0;
  await t.backend.walk(() => {
    backend++;
  });
  expect(backend).toBe(snapshots.length);
  const blobs: string[] = [];
  await t.cm.content.walk((info) => {
    blobs.push(info.digest);
  });
  expect(blobs.sort()).toEqual([...wantBlobs].sort());
  let stored = 0;
  await t.blobs.walk(() => {
    stored++;
  });
  expect(stored).toBe(blobs.length);
}

describe("cache invariants", () => {
  let t: TestCache;
  beforeEach(async () => {
    t = await openTestCache("native");
  });
  afterEach(async () => {
    await t.cleanup();
  });

  /**
   * Builds a random graph of refs (layers, merges, diffs, some with blobs
   * in random compressions), holding a random subset.
   */
  async function randomGraph(seed: number): Promise<{ held: ImmutableRef[]; all: string[] }> {
    const rand = prng(seed);
    const refs: ImmutableRef[] = [];
    const pick = (): ImmutableRef => refs[Math.floor(rand(refs.length))] as ImmutableRef;
    const compressions: Compression[] = ["gzip", "zstd", "uncompressed"];
    for (let i = 0; i < 14; i++) {
      const op = refs.length < 2 ? 0 : Math.floor(rand(10));
      if (op < 5) {
        const parent = refs.length === 0 || rand(3) < 1 ? undefined : pick();
        const m = await t.cm.new(parent, { description: `layer ${i}` });
        const dir = bindSource(await m.mount());
        await writeFiles(dir, { [`f${i}`]: `${seed}-${i}`, "d/shared": `v${i}` });
        if (parent !== undefined && rand(2) < 1) {
          const victims = Object.keys(await readTree(dir)).filter((p) => /^f\d+$/.test(p));
          if (victims.length > 1) await unlink(join(dir, victims[0] as string));
        }
        refs.push(await m.commit());
      } else if (op < 7) {
        refs.push(await t.cm.merge([pick(), pick()], { description: `merge ${i}` }));
      } else if (op < 8) {
        refs.push(await t.cm.diff(rand(2) < 1 ? undefined : pick(), pick()));
      } else {
        const ref = pick();
        await t.cm.getRemotes(ref, {
          compression: compressions[Math.floor(rand(3))] as Compression,
          force: rand(2) < 1,
        });
      }
    }
    const held: ImmutableRef[] = [];
    for (const r of refs) {
      if (rand(3) < 1) held.push(r);
      else await r.release();
    }
    return { held, all: refs.map((r) => r.id) };
  }

  it("holds what every record uses in its leases", async () => {
    const { held } = await randomGraph(7);
    await expectLeasesHold(t);
    for (const r of held) await r.release();
  });

  for (const seed of [1, 2, 3]) {
    it(`prune never removes a ref in use or a parent of one, and GC then leaves no orphans (seed ${seed})`, async () => {
      const { held } = await randomGraph(seed);
      const trees = new Map<string, Record<string, string>>();
      for (const r of held) trees.set(r.id, await treeOf(r));
      const removed = await t.cm.prune({ all: true });
      const live = new Set(t.cm.records.list().map((r) => r.id));
      // Every held ref and every (transitive) parent of one survived.
      const stack = held.map((r) => r.id);
      while (stack.length > 0) {
        const id = stack.pop() as string;
        expect(live.has(id), `record ${id} was pruned while in use`).toBe(true);
        expect(removed.map((u) => u.id)).not.toContain(id);
        stack.push(...parentsOf(t.cm.record(id)));
      }
      await expectNoOrphans(t);
      await expectLeasesHold(t);
      // Kept refs still mount to the same trees (views were dropped by nothing).
      for (const r of held) {
        const view = await r.clone();
        expect(await treeOf(view)).toEqual(trees.get(r.id));
        await view.release();
      }
      for (const r of held) await r.release();
      await t.cm.prune({ all: true });
      expect(t.cm.records.list()).toEqual([]);
      await expectNoOrphans(t);
    });
  }

  /** Every kind of operation, checked by its result, while `t`'s GC may run at any await. */
  async function operations(): Promise<void> {
    const make = async (parent: ImmutableRef | undefined, files: Record<string, string>) => {
      const m = await t.cm.new(parent);
      await writeFiles(bindSource(await m.mount()), files);
      return m.commit();
    };
    const l1 = await make(undefined, { a: "1" });
    const l2 = await make(l1, { b: "2" });
    const l3 = await make(l2, { c: "3" });
    const other = await make(undefined, { z: "26" });
    const [zstd] = await t.cm.getRemotes(l3, { compression: "zstd" });
    const [gzip] = await t.cm.getRemotes(l3, { compression: "gzip", force: true });
    expect(zstd?.descriptors.length).toBe(3);
    expect(gzip?.descriptors.map((d) => d.mediaType.endsWith("gzip"))).toEqual([true, true, true]);
    const merged = await t.cm.merge([l3, other]);
    expect(await treeOf(merged)).toEqual({ a: "file:1", b: "file:2", c: "file:3", z: "file:26" });
    const d = await t.cm.diff(l1, l3);
    expect(await treeOf(d)).toEqual({ b: "file:2", c: "file:3" });
    const unrelated = await t.cm.diff(other, l2);
    await t.cm.getRemotes(unrelated);
    // Lazy refs of another cache's layers, extracted here.
    const src = await openTestCache("native");
    try {
      const m = await src.cm.new(undefined);
      await writeFiles(bindSource(await m.mount()), { lazy: "yes" });
      const ref = await m.commit();
      const [remote] = await src.cm.getRemotes(ref);
      const lazy = await t.cm.getByBlob(remote?.descriptors[0] as Descriptor, {
        provider: src.cm.content,
      });
      expect(await treeOf(lazy)).toEqual({ lazy: "file:yes" });
      await lazy.release();
      await ref.release();
    } finally {
      await src.cleanup();
    }
    for (const r of [unrelated, d, merged, other, l3, l2, l1]) await r.release();
  }

  it("GC running all the time takes nothing from operations in flight", async () => {
    let stop = false;
    let runs = 0;
    const loop = (async () => {
      while (!stop) {
        await t.db.gc();
        runs++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    try {
      await operations();
    } finally {
      stop = true;
      await loop;
    }
    expect(runs).toBeGreaterThan(5);
    await expectLeasesHold(t);
    await expectNoOrphans(t);
    await t.cm.prune({ all: true });
    await expectNoOrphans(t);
    expect(t.cm.records.list()).toEqual([]);
  });

  it("works with the GC scheduler collecting after every deletion", async () => {
    await t.cleanup();
    t = await openTestCache("native", { scheduler: true });
    await operations();
    await expectLeasesHold(t);
    await expectNoOrphans(t);
  });

  it("keeps chain IDs across gzip, zstd and uncompressed while blob chain IDs differ", async () => {
    const m1 = await t.cm.new(undefined);
    await writeFiles(bindSource(await m1.mount()), { "etc/os": "strata", "bin/sh": "#!" });
    const base = await m1.commit();
    const m2 = await t.cm.new(base);
    await writeFiles(bindSource(await m2.mount()), { "app/main": "run" });
    const top = await m2.commit();
    const chains: Record<string, Descriptor[]> = {};
    for (const c of ["gzip", "zstd", "uncompressed"] as const) {
      const [remote] = await t.cm.getRemotes(top, { compression: c, force: true });
      chains[c] = remote?.descriptors ?? [];
    }
    const want = await treeOf(top);
    const dst = await openTestCache("native");
    try {
      const tops: ImmutableRef[] = [];
      for (const [c, descs] of Object.entries(chains)) {
        expect(descs.length, c).toBe(2);
        const r0 = await dst.cm.getByBlob(descs[0] as Descriptor, { provider: t.cm.content });
        const r1 = await dst.cm.getByBlob(descs[1] as Descriptor, {
          provider: t.cm.content,
          parent: r0,
        });
        await r0.release();
        tops.push(r1);
      }
      const infos = tops.map((r) => r.info());
      expect(new Set(infos.map((i) => i.chainID))).toEqual(new Set([top.info().chainID]));
      expect(new Set(infos.map((i) => i.blobChainID)).size).toBe(3);
      expect(infos.map((i) => i.blobChainID)).not.toContain(undefined);
      // Same chain ID: one snapshot, extracted once for the three.
      expect(new Set(infos.map((i) => i.snapshotID)).size).toBe(1);
      for (const r of tops) expect(await readTree(bindSource(await r.mount()))).toEqual(want);
      expect(dst.cm.stats.extractions).toBe(2);
      for (const r of tops) await r.release();
    } finally {
      await dst.cleanup();
    }
    await top.release();
    await base.release();
  });
});
