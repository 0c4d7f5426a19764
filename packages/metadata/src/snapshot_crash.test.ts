import { describe, it } from "vitest";
import { crashAndCheck } from "./_snapshot_crash_check.ts";

// Kill points spread over the child's steps; STRATA_CRASH_SEED picks others.
const seed = Number(process.env.STRATA_CRASH_SEED ?? Date.now() % 100_000);
function points(n: number): { lines: number; delayMs: number }[] {
  let x = seed || 1;
  const next = () => {
    x = (x * 48271) % 2147483647;
    return x;
  };
  return Array.from({ length: n }, (_, i) => ({
    lines: 2 + i * 5 + (next() % 5),
    delayMs: next() % 12,
  }));
}

describe("NamespacedSnapshotter after SIGKILL (native)", () => {
  it(`shows only complete snapshots and leaks nothing (STRATA_CRASH_SEED=${seed})`, async () => {
    for (const point of points(4)) await crashAndCheck("native", point);
  }, 60_000);
});
