import { setTimeout as sleep } from "node:timers/promises";
import { isFailedPrecondition, isInvalidArgument, isUnavailable } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import type { Benchmark, Command, Prepared } from "./benchmark.ts";
import { runBenchmark, timeCommand } from "./runner.ts";

function bench(prepared: Omit<Prepared, "teardown">, log: string[] = []): Benchmark {
  return {
    name: "t",
    description: "test",
    async setup() {
      log.push("setup");
      return {
        ...prepared,
        teardown: async () => {
          log.push("teardown");
        },
      };
    },
  };
}

const recorder = (log: string[], name: string, ms = 0): Command => {
  return async () => {
    log.push(name);
    if (ms > 0) await sleep(ms);
  };
};

describe("timeCommand", () => {
  it("times an async function", async () => {
    const ms = await timeCommand(async () => {
      await sleep(30);
    });
    expect(ms).toBeGreaterThanOrEqual(25);
    expect(ms).toBeLessThan(2000);
  });

  it("times a spawned program until it exits", async () => {
    const ms = await timeCommand({ argv: [process.execPath, "-e", "setTimeout(() => {}, 50)"] });
    expect(ms).toBeGreaterThanOrEqual(45);
  });

  it("passes env to the program and checks its output", async () => {
    await timeCommand({
      argv: [process.execPath, "-e", "console.log('got ' + process.env.BENCH_X)"],
      env: { BENCH_X: "42" },
      expectOutput: "got 42",
    });
  });

  it("fails when the program prints other than expected", async () => {
    const run = timeCommand({
      argv: [process.execPath, "-e", "console.log('abc')"],
      expectOutput: "xyz",
    });
    await expect(run).rejects.toSatisfy(isFailedPrecondition);
    await expect(run).rejects.toThrow(/printed "abc", expected it to contain "xyz"/);
  });

  it("fails with the exit code and stderr of a failing program", async () => {
    const run = timeCommand({
      argv: [process.execPath, "-e", "console.error('broken pipe dream'); process.exit(3)"],
    });
    await expect(run).rejects.toSatisfy(isFailedPrecondition);
    await expect(run).rejects.toThrow(/exit code 3: broken pipe dream/);
  });

  it("fails Unavailable for a program that does not exist", async () => {
    await expect(timeCommand({ argv: ["/nonexistent/bench-peer"] })).rejects.toSatisfy(
      isUnavailable,
    );
  });

  it("rejects with the signal's reason when aborted", async () => {
    const reason = new Error("stop");
    await expect(timeCommand(async () => {}, AbortSignal.abort(reason))).rejects.toBe(reason);
    const ac = new AbortController();
    const run = timeCommand(
      { argv: [process.execPath, "-e", "setTimeout(() => {}, 10000)"] },
      ac.signal,
    );
    setTimeout(() => ac.abort(reason), 50);
    await expect(run).rejects.toBe(reason);
  });
});

describe("runBenchmark", () => {
  it("runs the sides alternately, warmup first, and keeps only measured samples", async () => {
    const log: string[] = [];
    const events: string[] = [];
    const result = await runBenchmark(
      bench(
        {
          bytes: 1000,
          strata: recorder(log, "S"),
          peers: [
            { name: "p1", command: recorder(log, "P1") },
            { name: "p2", command: recorder(log, "P2") },
          ],
        },
        log,
      ),
      {
        rounds: 3,
        warmup: 2,
        onRun: (e) => events.push(`${e.warmup ? "w" : "r"}${e.round}:${e.side}`),
      },
    );
    expect(log).toEqual([
      "setup",
      ...Array.from({ length: 5 }, () => ["S", "P1", "P2"]).flat(),
      "teardown",
    ]);
    expect(events.slice(0, 3)).toEqual(["w0:strata", "w0:p1", "w0:p2"]);
    expect(events.slice(6, 9)).toEqual(["r2:strata", "r2:p1", "r2:p2"]);
    expect(result.name).toBe("t");
    expect(result.bytes).toBe(1000);
    expect(result.sides.map((s) => [s.side, s.samples.length, s.stats.n])).toEqual([
      ["strata", 3, 3],
      ["p1", 3, 3],
      ["p2", 3, 3],
    ]);
  });

  it("calls beforeRun untimed before every run of every side", async () => {
    const log: string[] = [];
    const result = await runBenchmark(
      bench(
        {
          strata: recorder(log, "S"),
          peers: [{ name: "p", command: recorder(log, "P") }],
          beforeRun: async (side) => {
            log.push(`before:${side}`);
            await new Promise((r) => setTimeout(r, 30));
          },
        },
        log,
      ),
      { rounds: 1, warmup: 1 },
    );
    expect(log).toEqual([
      "setup",
      "before:strata",
      "S",
      "before:p",
      "P",
      "before:strata",
      "S",
      "before:p",
      "P",
      "teardown",
    ]);
    // The 30 ms of beforeRun are not in the samples.
    for (const side of result.sides) expect(Math.max(...side.samples)).toBeLessThan(25);
  });

  it("measures what each side takes", async () => {
    const result = await runBenchmark(
      bench({ strata: recorder([], "S", 40), peers: [{ name: "p", command: recorder([], "P") }] }),
      { rounds: 2, warmup: 0 },
    );
    const [strata, peer] = result.sides;
    expect(strata?.stats.min).toBeGreaterThanOrEqual(35);
    expect(peer?.stats.max).toBeLessThan(strata?.stats.min ?? 0);
    expect(result.bytes).toBeUndefined();
  });

  it("tears down when a run fails", async () => {
    const log: string[] = [];
    const failing = async () => {
      throw new Error("peer crashed");
    };
    await expect(
      runBenchmark(
        bench({ strata: recorder(log, "S"), peers: [{ name: "p", command: failing }] }, log),
        { rounds: 1, warmup: 0 },
      ),
    ).rejects.toThrow("peer crashed");
    expect(log).toEqual(["setup", "S", "teardown"]);
  });

  it("rejects bad counts before setup and a setup without peers after it", async () => {
    const log: string[] = [];
    const b = bench({ strata: recorder(log, "S"), peers: [] }, log);
    await expect(runBenchmark(b, { rounds: 0, warmup: 0 })).rejects.toSatisfy(isInvalidArgument);
    await expect(runBenchmark(b, { rounds: 1, warmup: -1 })).rejects.toSatisfy(isInvalidArgument);
    expect(log).toEqual([]);
    await expect(runBenchmark(b, { rounds: 1, warmup: 0 })).rejects.toThrow("no peer");
    expect(log).toEqual(["setup", "teardown"]);
  });

  it("stops at the next run when the signal aborts", async () => {
    const log: string[] = [];
    const ac = new AbortController();
    const reason = new Error("enough");
    const strata: Command = async () => {
      log.push("S");
      ac.abort(reason);
    };
    await expect(
      runBenchmark(bench({ strata, peers: [{ name: "p", command: recorder(log, "P") }] }, log), {
        rounds: 5,
        warmup: 0,
        signal: ac.signal,
      }),
    ).rejects.toBe(reason);
    expect(log).toEqual(["setup", "S", "teardown"]);
  });
});
