import type { Benchmark } from "../benchmark.ts";
import { digestBenchmark } from "./digest.ts";
import { ingestBenchmark } from "./ingest.ts";
import { snapshotBenchmarks } from "./snapshots.ts";

/** Every registered benchmark, in the order `main.ts` runs them. */
export const BENCHMARKS: readonly Benchmark[] = [
  digestBenchmark,
  ingestBenchmark,
  ...snapshotBenchmarks,
];
