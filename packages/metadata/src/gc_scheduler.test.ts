import { describe, expect, it } from "vitest";
import { GcScheduler } from "./gc_scheduler.ts";
import type { GcStats } from "./gc_stats.ts";

const STATS: GcStats = {
  removedContent: 0,
  removedBytes: 0,
  removedLeases: 0,
  removedSnapshots: 0,
  removedBackendSnapshots: 0,
  removedIngests: 0,
  removedRecords: 0,
  pauseMs: 1,
  durationMs: 1,
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond` holds (the machine may be loaded), failing after 2 s. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await sleep(10);
  expect(cond()).toBe(true);
}

function counter(): { run: () => Promise<GcStats>; count: () => number } {
  let n = 0;
  return {
    run: async () => {
      n++;
      return STATS;
    },
    count: () => n,
  };
}

describe("GcScheduler", () => {
  it("runs once after the startup delay, then stays idle without events", async () => {
    const c = counter();
    const s = new GcScheduler(c.run, { startupDelayMs: 10 });
    await until(() => c.count() === 1);
    await sleep(300);
    expect(c.count()).toBe(1);
    s.close();
  });

  it("collects soon after a deletion when idle (deletion threshold 0)", async () => {
    const c = counter();
    const s = new GcScheduler(c.run, { startupDelayMs: 0 });
    s.mutation(false);
    await sleep(30);
    expect(c.count()).toBe(0);
    s.mutation(true);
    await until(() => c.count() === 1);
    s.close();
  });

  it("collects after the mutation threshold", async () => {
    const c = counter();
    const s = new GcScheduler(c.run, { startupDelayMs: 0, mutationThreshold: 3 });
    s.mutation(false);
    s.mutation(false);
    await sleep(20);
    expect(c.count()).toBe(0);
    s.mutation(false);
    await until(() => c.count() === 1);
    s.close();
  });

  it("paces the next collection by the pause threshold", async () => {
    const c = counter();
    // avg pause floored at 5 ms, threshold 0.05: interval = 5/0.05 - 5 = 95 ms.
    const s = new GcScheduler(c.run, { startupDelayMs: 0, pauseThreshold: 0.05 });
    s.mutation(true);
    await until(() => c.count() === 1);
    const first = Date.now();
    s.mutation(true);
    await sleep(30);
    expect(c.count()).toBe(1);
    await until(() => c.count() === 2);
    expect(Date.now() - first).toBeGreaterThanOrEqual(80);
    s.close();
  });

  it("scheduleAndWait runs now and resolves with the stats; close rejects later calls", async () => {
    const c = counter();
    const s = new GcScheduler(c.run, { startupDelayMs: 0 });
    expect(await s.scheduleAndWait()).toEqual(STATS);
    expect(c.count()).toBe(1);
    s.close();
    await expect(s.scheduleAndWait()).rejects.toThrow(/closed/);
  });

  it("reports a failing collection to waiters and onError", async () => {
    const errors: unknown[] = [];
    const s = new GcScheduler(async () => Promise.reject(new Error("disk gone")), {
      startupDelayMs: 0,
      onError: (e) => errors.push(e),
    });
    await expect(s.scheduleAndWait()).rejects.toThrow("disk gone");
    expect(errors.length).toBe(1);
    s.close();
  });

  it("rejects negative options", () => {
    expect(() => new GcScheduler(counter().run, { mutationThreshold: -1 })).toThrow(RangeError);
  });
});

describe("GcScheduler timers", () => {
  it("keeps a process waiting on scheduleAndWait alive until the run", async () => {
    const { spawnSync } = await import("node:child_process");
    const script = `
      import { GcScheduler } from ${JSON.stringify(new URL("./gc_scheduler.ts", import.meta.url).href)};
      const s = new GcScheduler(async () => ({ pauseMs: 0 }), { startupDelayMs: 0, scheduleDelayMs: 50 });
      const stats = await s.scheduleAndWait();
      s.close();
      console.log("done", stats.pauseMs);
    `;
    const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
    });
    expect({ status: out.status, stdout: out.stdout.trim(), stderr: out.stderr }).toEqual({
      status: 0,
      stdout: "done 0",
      stderr: "",
    });
  });
});
