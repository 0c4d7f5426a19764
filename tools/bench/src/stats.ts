import { InvalidArgumentError } from "@strata/errdefs";

/** The summary of one side's timings, in milliseconds. */
export interface Stats {
  /** How many samples. */
  n: number;
  min: number;
  /** The middle sample; the mean of the two middle ones for an even count. */
  median: number;
  max: number;
  mean: number;
}

/**
 * Summarizes timings (milliseconds) into min, median, max and mean.
 *
 * @throws {InvalidArgumentError} when `samples` is empty or holds a value
 *   that is not a finite number ≥ 0.
 */
export function summarize(samples: readonly number[]): Stats {
  if (samples.length === 0) {
    throw new InvalidArgumentError("cannot summarize timings: no samples");
  }
  for (const s of samples) {
    if (!Number.isFinite(s) || s < 0) {
      throw new InvalidArgumentError(`cannot summarize timings: invalid sample ${s}`);
    }
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    min: sorted[0] as number,
    median,
    max: sorted[sorted.length - 1] as number,
    mean: sum / sorted.length,
  };
}

/**
 * The ratio of two medians, `strata / peer`: below 1 means Strata is faster.
 * `undefined` when the peer's median is 0 (too fast to measure).
 */
export function ratio(strataMedianMs: number, peerMedianMs: number): number | undefined {
  return peerMedianMs > 0 ? strataMedianMs / peerMedianMs : undefined;
}

/**
 * Throughput in MiB/s of processing `bytes` in `ms` milliseconds;
 * `undefined` when `ms` is 0.
 */
export function throughputMiBs(bytes: number, ms: number): number | undefined {
  return ms > 0 ? bytes / (1024 * 1024) / (ms / 1000) : undefined;
}

/** Nanoseconds (from `process.hrtime.bigint()` differences) to milliseconds. */
export function nsToMs(ns: bigint): number {
  return Number(ns) / 1e6;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
};

/**
 * Parses a byte size such as `1073741824`, `64M`, `64MiB`, `1.5G` or `10MB`
 * (K/M/G and KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000).
 *
 * @throws {InvalidArgumentError} for anything else, or a size below 1 byte.
 */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = SIZE_UNITS[(m?.[2] ?? "").toLowerCase()];
  if (m === null || unit === undefined) {
    throw new InvalidArgumentError(`invalid size "${text}": expected e.g. 1073741824, 64M, 1GiB`);
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1) throw new InvalidArgumentError(`invalid size "${text}": must be at least 1 byte`);
  return bytes;
}
