import { describe, expect, it } from "vitest";
import { formatMs, formatTable, jsonReport, tableRows } from "./format.ts";
import type { BenchmarkResult } from "./runner.ts";
import { summarize } from "./stats.ts";

function result(bytes?: number): BenchmarkResult {
  const side = (name: string, samples: number[]) => ({
    side: name,
    samples,
    stats: summarize(samples),
  });
  return {
    name: "digest",
    description: "d",
    ...(bytes === undefined ? {} : { bytes }),
    rounds: 3,
    warmup: 1,
    sides: [
      side("strata", [500, 520, 540]),
      side("sha256sum", [1000, 1040, 1100]),
      side("openssl", [5, 6.5, 7]),
    ],
  };
}

describe("formatMs", () => {
  it("shows fewer decimals for larger values", () => {
    expect(formatMs(1234.56)).toBe("1235");
    expect(formatMs(12.345)).toBe("12.3");
    expect(formatMs(1.2345)).toBe("1.23");
  });
});

describe("tableRows", () => {
  it("gives one row per side with the ratio of medians on peer rows", () => {
    expect(tableRows([result(1024 * 1024 * 520)])).toEqual([
      ["digest", "strata", "500", "520", "540", "1000", ""],
      ["digest", "sha256sum", "1000", "1040", "1100", "500", "0.50"],
      ["digest", "openssl", "5.00", "6.50", "7.00", "80000", "80.00"],
    ]);
  });

  it("shows - for throughput when the benchmark declares no bytes", () => {
    expect(tableRows([result()]).map((r) => r[5])).toEqual(["-", "-", "-"]);
  });
});

describe("formatTable", () => {
  it("aligns text left and numbers right under a header", () => {
    expect(formatTable([result()])).toBe(
      [
        "benchmark  side       min ms  median ms  max ms  MiB/s  strata/peer",
        "digest     strata        500        520     540      -",
        "digest     sha256sum    1000       1040    1100      -         0.50",
        "digest     openssl      5.00       6.50    7.00      -        80.00",
        "",
      ].join("\n"),
    );
  });

  it("prints only the header for no results", () => {
    expect(formatTable([])).toBe(
      "benchmark  side  min ms  median ms  max ms  MiB/s  strata/peer\n",
    );
  });
});

describe("jsonReport", () => {
  it("carries settings, runtime, samples and a ratio per peer", () => {
    const report = jsonReport([result(100)], { rounds: 3, warmup: 1 });
    expect(report.node).toBe(process.version);
    expect(report.rounds).toBe(3);
    expect(report.warmup).toBe(1);
    expect(report.results[0]?.ratios).toEqual({ sha256sum: 0.5, openssl: 80 });
    expect(report.results[0]?.sides[0]?.samples).toEqual([500, 520, 540]);
    expect(report.results[0]?.bytes).toBe(100);
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });
});
