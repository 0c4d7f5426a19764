// `node tools/bench/src/main.ts [name...] [--rounds N] [--warmup N] [--json]`
// (`pnpm bench` at the root): runs the registered benchmarks and prints a table.
import { BENCHMARKS } from "./benchmarks/mod.ts";
import { parseCliArgs, USAGE } from "./cli.ts";
import { formatMs, formatTable, jsonReport } from "./format.ts";
import { type BenchmarkResult, runBenchmark } from "./runner.ts";

let options: ReturnType<typeof parseCliArgs>;
try {
  options = parseCliArgs(process.argv.slice(2));
} catch (err) {
  console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
  process.exit(0);
}
if (options.list) {
  const width = Math.max(...BENCHMARKS.map((b) => b.name.length));
  for (const b of BENCHMARKS) console.log(`${b.name.padEnd(width)}  ${b.description}`);
  process.exit(0);
}
const unknown = options.names.filter((n) => !BENCHMARKS.some((b) => b.name === n));
if (unknown.length > 0) {
  console.error(
    `bench: unknown benchmark ${unknown.join(", ")}; known: ${BENCHMARKS.map((b) => b.name).join(", ")}`,
  );
  process.exit(2);
}
const selected =
  options.names.length === 0
    ? BENCHMARKS
    : BENCHMARKS.filter((b) => options.names.includes(b.name));

// Ctrl-C aborts the run so that teardown still removes temp files.
const controller = new AbortController();
process.once("SIGINT", () => controller.abort(new Error("interrupted")));

const results: BenchmarkResult[] = [];
try {
  for (const bench of selected) {
    console.error(`bench: ${bench.name}: setting up`);
    results.push(
      await runBenchmark(bench, {
        rounds: options.rounds,
        warmup: options.warmup,
        signal: controller.signal,
        onRun: (e) =>
          console.error(
            `bench: ${bench.name}: ${e.warmup ? "warmup" : "round"} ${e.warmup ? e.round + 1 : e.round - options.warmup + 1} ${e.side} ${formatMs(e.ms)} ms`,
          ),
      }),
    );
  }
} catch (err) {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(1);
}
if (options.json) {
  console.log(JSON.stringify(jsonReport(results, options), null, 2));
} else {
  process.stdout.write(formatTable(results));
}
