import { LABEL_GC_REF_CONTENT, LABEL_GC_ROOT } from "@strata/leases";
import { afterEach, describe, expect, it } from "vitest";
import { runBenchmark } from "../runner.ts";
import { GC_GROUP, gcBenchmark, gcState } from "./gc.ts";

const ENV = [
  "STRATA_BENCH_GC_RECORDS",
  "STRATA_BENCH_GC_LEASES",
  "STRATA_BENCH_GC_PEER_RECORDS",
  "STRATA_BENCH_GC_PEER_LEASES",
] as const;

afterEach(() => {
  for (const name of ENV) delete process.env[name];
});

describe("gcState", () => {
  it("builds groups of a manifest referencing its layers, 10% rooted and 10% garbage", () => {
    const { groups, victims } = gcState({ records: 1000, leases: 7 }, "t");
    expect(groups.length + victims.length).toBe(1000 / GC_GROUP);
    expect(victims.length).toBe(10);
    expect(groups.filter((g) => g.holder === "root").length).toBe(10);
    const leases = new Set(groups.map((g) => g.holder).filter((h) => h !== "root"));
    expect(leases.size).toBe(7);
    const digests = new Set<string>();
    for (const g of [...groups, ...victims]) {
      expect(g.layers.length).toBe(GC_GROUP - 1);
      const refs = Object.entries(g.manifest.labels)
        .filter(([k]) => k.startsWith(`${LABEL_GC_REF_CONTENT}.`))
        .map(([, v]) => v);
      expect(refs).toEqual(g.layers.map((l) => l.digest));
      expect(Object.hasOwn(g.manifest.labels, LABEL_GC_ROOT)).toBe(g.holder === "root");
      for (const it of [...g.layers, g.manifest]) digests.add(it.digest);
    }
    expect(digests.size).toBe(1000);
  });

  it("rejects too few records or no lease", () => {
    expect(() => gcState({ records: 99, leases: 1 }, "t")).toThrow("records must be");
    expect(() => gcState({ records: 1000, leases: 0 }, "t")).toThrow("leases must be");
  });
});

describe("gcBenchmark", () => {
  it("collects the victim's records on every side, at a tiny scale", async () => {
    process.env.STRATA_BENCH_GC_RECORDS = "200";
    process.env.STRATA_BENCH_GC_LEASES = "5";
    process.env.STRATA_BENCH_GC_PEER_RECORDS = "100";
    process.env.STRATA_BENCH_GC_PEER_LEASES = "3";
    // Strata's side checks the GC removed exactly the victim's 20 records and
    // blobs; containerd's checks the previous run's garbage is gone.
    const result = await runBenchmark(gcBenchmark, { rounds: 2, warmup: 0 });
    expect(result.sides.map((s) => s.side)).toEqual(["strata", "containerd-100", "strata-100"]);
    for (const side of result.sides) expect(side.samples.length).toBe(2);
  }, 60_000);

  it("rejects a bad scale", async () => {
    process.env.STRATA_BENCH_GC_LEASES = "many";
    await expect(gcBenchmark.setup({})).rejects.toThrow('invalid STRATA_BENCH_GC_LEASES "many"');
  });
});
