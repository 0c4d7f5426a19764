/**
 * Strata's benchmark harness: runs Strata and peer programs alternately and
 * reports min/median/max wall times and the ratio of medians.
 *
 * @module
 */
export type {
  Benchmark,
  Command,
  FunctionCommand,
  Prepared,
  Side,
  SpawnCommand,
} from "./benchmark.ts";
export { DEFAULT_DIGEST_SIZE, digestBenchmark, writeInput } from "./benchmarks/digest.ts";
export { BENCHMARKS } from "./benchmarks/mod.ts";
export { type CliOptions, parseCliArgs, USAGE } from "./cli.ts";
export { findProgram } from "./find_program.ts";
export { formatMs, formatTable, type JsonReport, jsonReport, tableRows } from "./format.ts";
export {
  type BenchmarkResult,
  type RunOptions,
  runBenchmark,
  type SideResult,
  timeCommand,
} from "./runner.ts";
export { nsToMs, parseSize, ratio, type Stats, summarize, throughputMiBs } from "./stats.ts";
