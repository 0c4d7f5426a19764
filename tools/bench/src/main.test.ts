import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { JsonReport } from "./format.ts";

const run = promisify(execFile);
const MAIN = join(import.meta.dirname, "main.ts");
const env = { ...process.env, STRATA_BENCH_SIZE: "1M" };

describe("main", () => {
  it("lists the benchmarks", async () => {
    const { stdout } = await run(process.execPath, [MAIN, "--list"]);
    expect(stdout).toMatch(/^digest +sha256 of a file/m);
  });

  it("prints a table for a run", async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [MAIN, "digest", "--rounds", "1", "--warmup", "0"],
      { env },
    );
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^benchmark\s+side\s+min ms\s+median ms\s+max ms\s+MiB\/s\s+strata\/peer$/,
    );
    expect(lines[1]).toMatch(/^digest\s+strata\s/);
    expect(lines[2]).toMatch(/^digest\s+sha256sum\s.*\d+\.\d\d$/);
    expect(stderr).toContain("bench: digest: round 1 strata");
  });

  it("prints a JSON report with --json", async () => {
    const { stdout } = await run(
      process.execPath,
      [MAIN, "digest", "--rounds", "2", "--warmup", "1", "--json"],
      { env },
    );
    const report = JSON.parse(stdout) as JsonReport;
    expect(report.rounds).toBe(2);
    expect(report.warmup).toBe(1);
    expect(report.results[0]?.bytes).toBe(1024 * 1024);
    expect(report.results[0]?.sides[0]?.samples).toHaveLength(2);
    expect(typeof report.results[0]?.ratios.sha256sum).toBe("number");
  });

  it("exits 2 for an unknown benchmark or a bad option", async () => {
    await expect(run(process.execPath, [MAIN, "nope"])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining("unknown benchmark nope; known: digest"),
    });
    await expect(run(process.execPath, [MAIN, "--rounds", "0"])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('invalid --rounds "0"'),
    });
  });

  it("exits 1 when a benchmark fails", async () => {
    await expect(
      run(process.execPath, [MAIN, "digest"], { env: { ...env, STRATA_BENCH_SIZE: "huge" } }),
    ).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('invalid size "huge"') });
  });
});
