import { spawn } from "node:child_process";
import { FailedPreconditionError, InvalidArgumentError, UnavailableError } from "@strata/errdefs";
import type { Benchmark, Command, Side, SpawnCommand } from "./benchmark.ts";
import { nsToMs, type Stats, summarize } from "./stats.ts";

/** Options of {@link runBenchmark}. */
export interface RunOptions {
  /** Measured rounds; each runs every side once. */
  rounds: number;
  /** Rounds run first and discarded (page cache, JIT). */
  warmup: number;
  signal?: AbortSignal;
  /** Called after each run, e.g. to show progress. */
  onRun?: (event: { side: string; round: number; warmup: boolean; ms: number }) => void;
}

/** The timings of one side of a benchmark. */
export interface SideResult {
  /** `strata` or the peer's name. */
  side: string;
  /** The measured samples in milliseconds, in run order. */
  samples: number[];
  stats: Stats;
}

/** The outcome of one benchmark. */
export interface BenchmarkResult {
  name: string;
  description: string;
  /** Bytes each run processed, when the benchmark declares it. */
  bytes?: number;
  rounds: number;
  warmup: number;
  /** Strata first, then the peers in their order. */
  sides: SideResult[];
}

function spawnOnce(cmd: SpawnCommand, signal: AbortSignal | undefined): Promise<void> {
  const [program, ...args] = cmd.argv;
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      stdio: ["ignore", cmd.expectOutput === undefined ? "ignore" : "pipe", "pipe"],
      env: cmd.env === undefined ? process.env : { ...process.env, ...cmd.env },
      ...(signal === undefined ? {} : { signal }),
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    child.on("error", (err) => {
      if (signal?.aborted) reject(signal.reason);
      else
        reject(
          new UnavailableError(`cannot run ${cmd.argv.join(" ")}: ${err.message}`, { cause: err }),
        );
    });
    child.on("close", (code, sig) => {
      if (signal?.aborted) return reject(signal.reason);
      if (code !== 0) {
        return reject(
          new FailedPreconditionError(
            `${cmd.argv.join(" ")} failed with ${sig ?? `exit code ${code}`}: ${stderr.trim()}`,
          ),
        );
      }
      if (cmd.expectOutput !== undefined && !stdout.includes(cmd.expectOutput)) {
        return reject(
          new FailedPreconditionError(
            `${cmd.argv.join(" ")} printed ${JSON.stringify(stdout.trim())}, expected it to contain ${JSON.stringify(cmd.expectOutput)}`,
          ),
        );
      }
      resolve();
    });
  });
}

/** Runs a command once and returns its wall time in milliseconds. */
export async function timeCommand(command: Command, signal?: AbortSignal): Promise<number> {
  signal?.throwIfAborted();
  const start = process.hrtime.bigint();
  if (typeof command === "function") await command(signal);
  else await spawnOnce(command, signal);
  return nsToMs(process.hrtime.bigint() - start);
}

/**
 * Runs a benchmark: setup, then `warmup` discarded rounds and `rounds`
 * measured rounds, each running Strata and every peer once, alternately
 * (strata, peer, strata, peer, ...) so that drift in the machine affects all
 * sides alike; teardown always.
 *
 * @throws {InvalidArgumentError} for rounds < 1, warmup < 0, or a setup
 *   that prepares no peer.
 * @throws {FailedPreconditionError} when a program exits non-zero or prints
 *   other than expected; {@link UnavailableError} when it cannot be spawned.
 */
export async function runBenchmark(
  bench: Benchmark,
  options: RunOptions,
): Promise<BenchmarkResult> {
  const { rounds, warmup, signal } = options;
  if (!Number.isInteger(rounds) || rounds < 1) {
    throw new InvalidArgumentError(
      `cannot run benchmark ${bench.name}: rounds must be ≥ 1, got ${rounds}`,
    );
  }
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new InvalidArgumentError(
      `cannot run benchmark ${bench.name}: warmup must be ≥ 0, got ${warmup}`,
    );
  }
  signal?.throwIfAborted();
  const prepared = await bench.setup(signal === undefined ? {} : { signal });
  try {
    if (prepared.peers.length === 0) {
      throw new InvalidArgumentError(`cannot run benchmark ${bench.name}: setup prepared no peer`);
    }
    const sides: Side[] = [{ name: "strata", command: prepared.strata }, ...prepared.peers];
    const samples = sides.map((): number[] => []);
    for (let round = 0; round < warmup + rounds; round++) {
      const isWarmup = round < warmup;
      for (const [i, side] of sides.entries()) {
        await prepared.beforeRun?.(side.name, { ...(signal !== undefined ? { signal } : {}) });
        const ms = await timeCommand(side.command, signal);
        options.onRun?.({ side: side.name, round, warmup: isWarmup, ms });
        if (!isWarmup) samples[i]?.push(ms);
      }
    }
    return {
      name: bench.name,
      description: bench.description,
      ...(prepared.bytes === undefined ? {} : { bytes: prepared.bytes }),
      rounds,
      warmup,
      sides: sides.map((side, i) => {
        const s = samples[i] ?? [];
        return { side: side.name, samples: s, stats: summarize(s) };
      }),
    };
  } finally {
    await prepared.teardown?.();
  }
}
