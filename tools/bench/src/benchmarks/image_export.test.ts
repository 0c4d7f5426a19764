import { readdir } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { runBenchmark } from "../runner.ts";
import { IMAGE_LAYERS, imageSize } from "./_image_fixture.ts";
import { benchDir } from "./diff_walk.ts";
import { imageExportBenchmark } from "./image_export.ts";

afterEach(() => {
  delete process.env.STRATA_BENCH_SIZE;
});

describe("imageSize", () => {
  it("reads STRATA_BENCH_SIZE and refuses sizes below one byte per layer", () => {
    process.env.STRATA_BENCH_SIZE = "3M";
    expect(imageSize()).toBe(3 << 20);
    process.env.STRATA_BENCH_SIZE = String(IMAGE_LAYERS - 1);
    expect(() => imageSize()).toThrow(/too small/);
    process.env.STRATA_BENCH_SIZE = "lots";
    expect(() => imageSize()).toThrow('invalid size "lots"');
  });
});

describe("imageExportBenchmark", () => {
  it("pushes a small image with strata and skopeo, each run checked, and cleans up", async () => {
    process.env.STRATA_BENCH_SIZE = "2M";
    const ours = async () =>
      (await readdir(benchDir())).filter((n) => n.startsWith("strata-bench-image-export-"));
    const before = await ours();
    const result = await runBenchmark(imageExportBenchmark, { rounds: 1, warmup: 0 });
    expect(result.sides.map((s) => s.side)).toEqual(["strata", "skopeo-copy"]);
    expect(await ours()).toEqual(before);
  }, 120_000);
});
