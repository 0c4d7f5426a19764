import { describe, expect, it } from "vitest";
import { backoffDelay, parseRetryAfter, retryPolicy, sleep } from "./_backoff.ts";

describe("backoffDelay", () => {
  const policy = retryPolicy({ minDelay: 100, maxDelay: 1000 });

  it("doubles with jitter between half and all of the step", () => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const step = 100 * 2 ** attempt;
      const d = backoffDelay(policy, attempt);
      expect(d).toBeGreaterThanOrEqual(step / 2);
      expect(d).toBeLessThanOrEqual(step);
    }
  });

  it("caps the delay and the server's Retry-After", () => {
    expect(backoffDelay(policy, 20)).toBeLessThanOrEqual(1000);
    expect(backoffDelay(policy, 0, "2")).toBe(1000);
    expect(backoffDelay(policy, 0, "0")).toBe(0);
  });
});

describe("parseRetryAfter", () => {
  it("reads seconds and HTTP dates, ignores junk", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    const inFuture = new Date(Date.now() + 5000).toUTCString();
    expect(parseRetryAfter(inFuture)).toBeGreaterThan(3000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe("sleep", () => {
  it("rejects with the signal's reason when aborted", async () => {
    const controller = new AbortController();
    const waiting = sleep(10_000, controller.signal);
    controller.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow("stop");
  });
});
