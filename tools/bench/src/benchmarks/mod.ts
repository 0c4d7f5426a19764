import type { Benchmark } from "../benchmark.ts";
import { applyBenchmark } from "./apply.ts";
import { compressBenchmarks } from "./compress.ts";
import { diffOverlayBenchmark } from "./diff_overlay.ts";
import { diffWalkBenchmark } from "./diff_walk.ts";
import { digestBenchmark } from "./digest.ts";
import { ingestBenchmark } from "./ingest.ts";
import { snapshotBenchmarks } from "./snapshots.ts";

/** Every registered benchmark, in the order `main.ts` runs them. */
export const BENCHMARKS: readonly Benchmark[] = [
  digestBenchmark,
  ingestBenchmark,
  ...snapshotBenchmarks,
  ...compressBenchmarks,
  diffWalkBenchmark,
  diffOverlayBenchmark,
  applyBenchmark,
];
