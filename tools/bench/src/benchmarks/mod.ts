import type { Benchmark } from "../benchmark.ts";
import { applyBenchmark } from "./apply.ts";
import { compressBenchmarks } from "./compress.ts";
import { daemonInfoBenchmark } from "./daemon_info.ts";
import { daemonRwBenchmarks } from "./daemon_rw.ts";
import { diffOverlayBenchmark } from "./diff_overlay.ts";
import { diffWalkBenchmark } from "./diff_walk.ts";
import { digestBenchmark } from "./digest.ts";
import { gcBenchmark } from "./gc.ts";
import { imageExportBenchmark } from "./image_export.ts";
import { imageImportBenchmark } from "./image_import.ts";
import { ingestBenchmark } from "./ingest.ts";
import { mergeBenchmarks } from "./merge.ts";
import { snapshotBenchmarks } from "./snapshots.ts";

/** Every registered benchmark, in the order `main.ts` runs them. */
export const BENCHMARKS: readonly Benchmark[] = [
  digestBenchmark,
  ingestBenchmark,
  gcBenchmark,
  ...snapshotBenchmarks,
  ...compressBenchmarks,
  diffWalkBenchmark,
  diffOverlayBenchmark,
  applyBenchmark,
  ...mergeBenchmarks,
  imageExportBenchmark,
  imageImportBenchmark,
  ...daemonRwBenchmarks,
  daemonInfoBenchmark,
];
