import type { BenchmarkResult } from "./runner.ts";
import { ratio, throughputMiBs } from "./stats.ts";

const HEADERS = ["benchmark", "side", "min ms", "median ms", "max ms", "MiB/s", "strata/peer"];

function fixed(value: number | undefined, digits: number): string {
  return value === undefined ? "-" : value.toFixed(digits);
}

/** Milliseconds with a precision that suits their magnitude. */
export function formatMs(ms: number): string {
  return ms.toFixed(ms >= 100 ? 0 : ms >= 10 ? 1 : 2);
}

/**
 * The rows of the results table, one per side of each benchmark: name,
 * side, min/median/max in ms, median throughput in MiB/s (`-` when the
 * benchmark declares no bytes) and, on peer rows, the ratio of medians
 * strata/peer (below 1: Strata is faster).
 */
export function tableRows(results: readonly BenchmarkResult[]): string[][] {
  const rows: string[][] = [];
  for (const r of results) {
    const strata = r.sides.find((s) => s.side === "strata");
    for (const s of r.sides) {
      const mibs = r.bytes === undefined ? undefined : throughputMiBs(r.bytes, s.stats.median);
      const rel =
        s.side === "strata" || strata === undefined
          ? ""
          : fixed(ratio(strata.stats.median, s.stats.median), 2);
      rows.push([
        r.name,
        s.side,
        formatMs(s.stats.min),
        formatMs(s.stats.median),
        formatMs(s.stats.max),
        r.bytes === undefined ? "-" : fixed(mibs, 0),
        rel,
      ]);
    }
  }
  return rows;
}

/**
 * Formats results as an aligned text table (text columns left-aligned,
 * numbers right-aligned) ending with a newline.
 *
 * @example
 * ```text
 * benchmark  side       min ms  median ms  max ms  MiB/s  strata/peer
 * digest     strata        512        520     530   1969
 * digest     sha256sum     480        490     500   2090         1.06
 * ```
 */
export function formatTable(results: readonly BenchmarkResult[]): string {
  const rows = [HEADERS, ...tableRows(results)];
  const widths = HEADERS.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? "").length)));
  const lines = rows.map((row) =>
    row
      .map((cell, c) => (c < 2 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
      .join("  ")
      .trimEnd(),
  );
  return `${lines.join("\n")}\n`;
}

/** What `--json` prints: the run's settings, the runtime and every result. */
export interface JsonReport {
  node: string;
  platform: string;
  rounds: number;
  warmup: number;
  results: (BenchmarkResult & { ratios: Record<string, number | null> })[];
}

/**
 * The `--json` report: results with, per peer, the ratio of medians
 * strata/peer (`null` when it cannot be computed).
 */
export function jsonReport(
  results: readonly BenchmarkResult[],
  settings: { rounds: number; warmup: number },
): JsonReport {
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    rounds: settings.rounds,
    warmup: settings.warmup,
    results: results.map((r) => {
      const strata = r.sides.find((s) => s.side === "strata");
      const ratios: Record<string, number | null> = {};
      for (const s of r.sides) {
        if (s.side === "strata") continue;
        ratios[s.side] =
          strata === undefined ? null : (ratio(strata.stats.median, s.stats.median) ?? null);
      }
      return { ...r, ratios };
    }),
  };
}
