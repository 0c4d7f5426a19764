import { readdir } from "node:fs/promises";
import { afterEach, describe, expect, it } from "vitest";
import { runBenchmark } from "../runner.ts";
import { benchDir } from "./diff_walk.ts";
import { imageImportBenchmark } from "./image_import.ts";

afterEach(() => {
  delete process.env.STRATA_BENCH_SIZE;
});

describe("imageImportBenchmark", () => {
  it("pulls and unpacks a small image with strata, skopeo + umoci and skopeo, and cleans up", async () => {
    process.env.STRATA_BENCH_SIZE = "2M";
    const ours = async () =>
      (await readdir(benchDir())).filter((n) => n.startsWith("strata-bench-image-import-"));
    const before = await ours();
    const result = await runBenchmark(imageImportBenchmark, { rounds: 1, warmup: 0 });
    expect(result.sides.map((s) => s.side)).toEqual(["strata", "skopeo+umoci", "skopeo-copy"]);
    expect(await ours()).toEqual(before);
  }, 120_000);
});
