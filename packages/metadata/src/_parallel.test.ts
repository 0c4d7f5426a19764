import { describe, expect, it } from "vitest";
import { forEachParallel } from "./_parallel.ts";

describe("forEachParallel", () => {
  it("calls fn for every item, never more than width at a time", async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    await forEachParallel([...Array(50).keys()], 4, async (i) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, i % 3));
      seen.push(i);
      running--;
    });
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(50).keys()]);
    expect(most).toBe(4);
  });

  it("stops starting items after a failure and rethrows it", async () => {
    const started: number[] = [];
    await expect(
      forEachParallel([...Array(20).keys()], 2, async (i) => {
        started.push(i);
        await new Promise((r) => setTimeout(r, 1));
        if (i === 3) throw new Error("item 3 failed");
      }),
    ).rejects.toThrow("item 3 failed");
    expect(started.length).toBeLessThan(8);
  });

  it("does nothing for no items", async () => {
    await forEachParallel([], 8, async () => {
      throw new Error("not called");
    });
  });
});
