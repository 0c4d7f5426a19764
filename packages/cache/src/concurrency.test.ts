import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bindSource, openTestCache, type TestCache, writeFiles } from "./_testing.ts";
import type { ImmutableRef } from "./refs.ts";

describe("CacheManager.getRemotes concurrency", () => {
  let t: TestCache;
  beforeEach(async () => {
    t = await openTestCache("native");
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it("computes and converts each shared base layer once for 8 concurrent exports", async () => {
    const make = async (parent: ImmutableRef | undefined, files: Record<string, string>) => {
      const m = await t.cm.new(parent);
      await writeFiles(bindSource(await m.mount()), files);
      return m.commit();
    };
    const base0 = await make(undefined, { "etc/os": "strata", big: "x".repeat(200_000) });
    const base1 = await make(base0, { "usr/lib/a": "y".repeat(100_000) });
    const refs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => make(base1, { [`app${i}`]: `app ${i}` })),
    );
    const ingests = async (): Promise<number> => {
      let n = 0;
      await t.cm.content.walk(() => {
        n++;
      });
      return n;
    };

    const zstd = await Promise.all(refs.map((r) => t.cm.getRemotes(r, { compression: "zstd" })));
    // Two base layers + eight tops, one differ run each.
    expect(t.cm.stats.differRuns).toBe(10);
    expect(t.cm.stats.conversions).toBe(0);
    expect(await ingests()).toBe(10);
    const baseDigests = zstd.map((rs) => rs[0]?.descriptors.slice(0, 2).map((d) => d.digest));
    expect(new Set(baseDigests.map((d) => JSON.stringify(d))).size).toBe(1);
    for (const rs of zstd) {
      expect(rs[0]?.descriptors.map((d) => d.mediaType.endsWith("+zstd"))).toEqual([
        true,
        true,
        true,
      ]);
    }

    const gzip = await Promise.all(
      refs.map((r) => t.cm.getRemotes(r, { compression: "gzip", force: true })),
    );
    // No new differ run; one conversion per layer, the base ones shared.
    expect(t.cm.stats.differRuns).toBe(10);
    expect(t.cm.stats.conversions).toBe(10);
    expect(await ingests()).toBe(20);
    for (const rs of gzip) {
      expect(rs[0]?.descriptors.map((d) => d.mediaType.endsWith("+gzip"))).toEqual([
        true,
        true,
        true,
      ]);
      // Same uncompressed content: same diffIDs as the zstd chain.
      expect(rs[0]?.descriptors.map((d) => d.annotations?.["containerd.io/uncompressed"])).toEqual(
        zstd[gzip.indexOf(rs)]?.[0]?.descriptors.map(
          (d) => d.annotations?.["containerd.io/uncompressed"],
        ),
      );
    }
    // Again: everything exists, nothing is computed.
    await Promise.all(refs.map((r) => t.cm.getRemotes(r, { compression: "gzip", force: true })));
    expect(t.cm.stats.conversions).toBe(10);
    for (const r of [...refs, base1, base0]) await r.release();
  });
});
