import { isInvalidArgument } from "@strata/errdefs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bindSource, openTestCache, type TestCache, writeFiles } from "./_testing.ts";
import type { CacheManager } from "./cache_manager.ts";
import { defaultGcPolicy, diskPercentage } from "./gc_policy.ts";
import { keepBytes } from "./prune.ts";
import type { ImmutableRef } from "./refs.ts";

async function makeRef(
  cm: CacheManager,
  parent: ImmutableRef | undefined,
  name: string,
  options: { recordType?: string } = {},
): Promise<ImmutableRef> {
  const m = await cm.new(parent, { description: name, ...options });
  await writeFiles(bindSource(await m.mount()), { [name]: name.repeat(5000) });
  return m.commit();
}

describe("CacheManager.prune", () => {
  let t: TestCache;
  beforeEach(async () => {
    t = await openTestCache("native");
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it("reports usage with sizes, parents and in-use propagation", async () => {
    const base = await makeRef(t.cm, undefined, "base");
    const child = await makeRef(t.cm, base, "child");
    await base.release();
    const du = await t.cm.diskUsage();
    expect(du.map((u) => u.description).sort()).toEqual(["base", "child"]);
    const b = du.find((u) => u.id === base.id);
    const c = du.find((u) => u.id === child.id);
    expect(c?.parents).toEqual([base.id]);
    expect(c?.inUse).toBe(true);
    expect(b?.inUse).toBe(true); // its child is in use
    expect(b?.size).toBeGreaterThan(0);
    expect(b?.lastUsedAt).toBeInstanceOf(Date);
    expect(b?.usageCount).toBe(1);
    expect((await t.cm.diskUsage({ filters: ["description==child"] })).map((u) => u.id)).toEqual([
      child.id,
    ]);
    await child.release();
  });

  it("never removes a ref in use or its parents", async () => {
    const base = await makeRef(t.cm, undefined, "base");
    const child = await makeRef(t.cm, base, "child");
    await base.release();
    expect(await t.cm.prune({ all: true })).toEqual([]);
    expect(t.cm.records.get(base.id)).toBeDefined();
    await child.release();
    const removed = await t.cm.prune({ all: true });
    expect(removed.map((u) => u.description)).toEqual(["child", "base"]);
    expect(t.cm.records.list()).toEqual([]);
  });

  it("keeps records used within keepDuration", async () => {
    const a = await makeRef(t.cm, undefined, "a");
    await a.release();
    expect(await t.cm.prune({ keepDuration: 3_600_000 })).toEqual([]);
    expect((await t.cm.prune({ keepDuration: 0 })).map((u) => u.id)).toEqual([a.id]);
  });

  it("prunes least recently used first down to maxUsedSpace", async () => {
    const refs: ImmutableRef[] = [];
    for (const name of ["old", "mid", "new"]) {
      const r = await makeRef(t.cm, undefined, name);
      await r.release();
      await new Promise((resolve) => setTimeout(resolve, 5));
      refs.push(r);
    }
    const du = await t.cm.diskUsage();
    const one = Math.max(...du.map((u) => u.size));
    const removed = await t.cm.prune({ maxUsedSpace: one });
    expect(removed.map((u) => u.description)).toEqual(["old", "mid"]);
    expect((await t.cm.diskUsage()).map((u) => u.description)).toEqual(["new"]);
  });

  it("frees space down to minFreeSpace and keeps reservedSpace", async () => {
    for (const name of ["a", "b", "c"]) await (await makeRef(t.cm, undefined, name)).release();
    const total = (await t.cm.diskUsage()).reduce((n, u) => n + u.size, 0);
    // The disk lacks one byte: prune one record.
    const diskSpace = async () => ({ total: 1e12, free: 99 });
    expect(await t.cm.prune({ minFreeSpace: 100, diskSpace })).toHaveLength(1);
    // reservedSpace above usage: nothing goes.
    expect(await t.cm.prune({ maxUsedSpace: 1, reservedSpace: total })).toEqual([]);
    // Free space satisfied and no other cap: nothing goes.
    expect(await t.cm.prune({ minFreeSpace: 10, diskSpace })).toEqual([]);
  });

  it("applies filters and spares internal records unless all", async () => {
    const a = await makeRef(t.cm, undefined, "a");
    const b = await makeRef(t.cm, undefined, "b");
    const i = await makeRef(t.cm, undefined, "i", { recordType: "internal" });
    for (const r of [a, b, i]) await r.release();
    expect((await t.cm.prune({ filters: ["description==b"] })).map((u) => u.id)).toEqual([b.id]);
    expect((await t.cm.prune()).map((u) => u.id)).toEqual([a.id]);
    expect((await t.cm.prune({ all: true })).map((u) => u.id)).toEqual([i.id]);
  });

  it("removes released mutable records unless retained, and prunes retained ones", async () => {
    const m = await t.cm.new(undefined);
    await m.release();
    expect(t.cm.records.list()).toEqual([]);
    const kept = await t.cm.new(undefined, {
      cachePolicy: "retain",
      recordType: "exec.cachemount",
    });
    await kept.release();
    const [policy] = defaultGcPolicy({ totalBytes: 1e12 });
    expect(await t.cm.prune({ ...policy, keepDuration: 0, maxUsedSpace: 0 })).toHaveLength(1);
  });

  it("rejects bad policies", async () => {
    expect(isInvalidArgument(await t.cm.prune({ maxUsedSpace: -1 }).catch((e: unknown) => e))).toBe(
      true,
    );
    expect(
      isInvalidArgument(await t.cm.prune({ filters: ["description=="] }).catch((e: unknown) => e)),
    ).toBe(true);
    expect(isInvalidArgument(await t.cm.prune({ minFreeSpace: 5 }).catch((e: unknown) => e))).toBe(
      true,
    );
  });
});

describe("keepBytes", () => {
  it("computes BuildKit's byte budget", async () => {
    const total = () => 1000;
    expect(await keepBytes({}, total)).toBeUndefined();
    expect(await keepBytes({ maxUsedSpace: 500 }, total)).toBe(500);
    expect(await keepBytes({ reservedSpace: 700, maxUsedSpace: 500 }, total)).toBe(700);
    const disk = (free: number) => async () => ({ total: 10_000, free });
    expect(await keepBytes({ minFreeSpace: 300, diskSpace: disk(100) }, total)).toBe(800);
    expect(
      await keepBytes({ minFreeSpace: 300, maxUsedSpace: 600, diskSpace: disk(100) }, total),
    ).toBe(600);
    expect(await keepBytes({ minFreeSpace: 300, diskSpace: disk(500) }, total)).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});

describe("defaultGcPolicy", () => {
  it("gives BuildKit's four policies with disk-relative caps", () => {
    const total = 100 * 2 ** 30;
    const policies = defaultGcPolicy({ totalBytes: total });
    expect(policies).toHaveLength(4);
    expect(policies[0]?.filters).toEqual([
      "type==source.local",
      "type==exec.cachemount",
      "type==source.git.checkout",
    ]);
    expect(policies[0]?.maxUsedSpace).toBe(512e6);
    expect(policies[1]?.keepDuration).toBe(60 * 24 * 3600 * 1000);
    // 10 % is 11e9 by BuildKit's rounding, capped at 10 GB; 80 % is 81e9.
    expect(policies[2]?.reservedSpace).toBe(10e9);
    expect(policies[2]?.maxUsedSpace).toBe(diskPercentage(total, 80));
    expect(policies[2]?.maxUsedSpace).toBe(81e9);
    expect(policies[3]?.all).toBe(true);
    expect(diskPercentage(total, 10)).toBe(11e9);
    expect(defaultGcPolicy()[2]?.maxUsedSpace).toBe(2e9);
  });
});
