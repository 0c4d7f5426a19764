import { getEventListeners } from "node:events";
import { setImmediate as tick } from "node:timers/promises";
import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { Group } from "./group.ts";

// A function for Group.do whose runs the test settles by hand.
function manual<T>() {
  const runs: {
    signal: AbortSignal;
    resolve: (value: T) => void;
    reject: (err: unknown) => void;
  }[] = [];
  const fn = (signal: AbortSignal): Promise<T> => {
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    runs.push({ signal, resolve, reject });
    return promise;
  };
  const run = (i: number) => {
    const r = runs[i];
    if (r === undefined) throw new Error(`no run ${i}, only ${runs.length}`);
    return r;
  };
  return { fn, runs, run };
}

// Whether a promise has settled, without waiting for it.
async function state(p: Promise<unknown>): Promise<"pending" | "resolved" | "rejected"> {
  const pending = Symbol("pending");
  try {
    const v = await Promise.race([p, tick().then(() => pending)]);
    return v === pending ? "pending" : "resolved";
  } catch {
    return "rejected";
  }
}

describe("Group", () => {
  describe("do", () => {
    it("runs fn once for concurrent callers of one key and gives all the same result", async () => {
      const g = new Group<{ n: number }>();
      const m = manual<{ n: number }>();
      const a = g.do("k", m.fn);
      const b = g.do("k", m.fn);
      const c = g.do("k", m.fn);
      expect(m.runs).toHaveLength(1);
      const result = { n: 1 };
      m.run(0).resolve(result);
      const [ra, rb, rc] = await Promise.all([a, b, c]);
      expect(ra).toBe(result);
      expect(rb).toBe(result);
      expect(rc).toBe(result);
    });

    it("lets a caller join a run that is already in progress", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const a = g.do("k", m.fn);
      await tick();
      await tick();
      const b = g.do("k", m.fn);
      expect(m.runs).toHaveLength(1);
      m.run(0).resolve("done");
      await expect(a).resolves.toBe("done");
      await expect(b).resolves.toBe("done");
    });

    it("runs different keys independently", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const a = g.do("a", m.fn);
      const b = g.do("b", m.fn);
      expect(m.runs).toHaveLength(2);
      m.run(1).resolve("B");
      await expect(b).resolves.toBe("B");
      expect(await state(a)).toBe("pending");
      m.run(0).resolve("A");
      await expect(a).resolves.toBe("A");
    });

    it("runs fn again for a caller that comes after a success", async () => {
      const g = new Group<number>();
      let calls = 0;
      const fn = async () => ++calls;
      await expect(g.do("k", fn)).resolves.toBe(1);
      await expect(g.do("k", fn)).resolves.toBe(2);
      expect(g.size).toBe(0);
    });

    it("gives a failure to the waiters of that run only and reruns fn for later callers", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const a = g.do("k", m.fn);
      const b = g.do("k", m.fn);
      const boom = new Error("boom");
      m.run(0).reject(boom);
      await expect(a).rejects.toBe(boom);
      await expect(b).rejects.toBe(boom);
      expect(g.has("k")).toBe(false);

      const c = g.do("k", m.fn);
      expect(m.runs).toHaveLength(2);
      m.run(1).resolve("second");
      await expect(c).resolves.toBe("second");
    });

    it("frees the key as soon as a failed run settles, before its waiters run on", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const boom = new Error("boom");
      let retried: Promise<string> | undefined;
      const first = g.do("k", m.fn).catch((err: unknown) => {
        expect(err).toBe(boom);
        retried = g.do("k", async () => "retry");
        return "caught";
      });
      m.run(0).reject(boom);
      await expect(first).resolves.toBe("caught");
      await expect(retried).resolves.toBe("retry");
    });

    it("rejects with a synchronous throw of fn and frees the key", async () => {
      const g = new Group<string>();
      const boom = new Error("sync boom");
      const a = g.do("k", () => {
        throw boom;
      });
      await expect(a).rejects.toBe(boom);
      expect(g.size).toBe(0);
      await expect(g.do("k", async () => "ok")).resolves.toBe("ok");
    });

    it("shares a synchronous throw with callers that joined before it surfaced", async () => {
      const g = new Group<string>();
      const boom = new Error("sync boom");
      const a = g.do("k", () => {
        throw boom;
      });
      const b = g.do("k", async () => "never");
      await expect(a).rejects.toBe(boom);
      await expect(b).rejects.toBe(boom);
    });

    it("accepts an fn that returns a plain value at run time", async () => {
      const g = new Group<number>();
      const fn = (() => 7) as unknown as () => Promise<number>;
      await expect(g.do("k", fn)).resolves.toBe(7);
    });

    it("rejects at once with the reason of an already aborted signal, neither starting nor joining", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const reason = new Error("gone");
      const aborted = AbortSignal.abort(reason);

      await expect(g.do("k", m.fn, { signal: aborted })).rejects.toBe(reason);
      expect(m.runs).toHaveLength(0);
      expect(g.size).toBe(0);

      const live = g.do("k", m.fn);
      await expect(g.do("k", m.fn, { signal: aborted })).rejects.toBe(reason);
      m.run(0).resolve("x");
      await expect(live).resolves.toBe("x");
      expect(m.run(0).signal.aborted).toBe(false);
    });

    it("rejects one aborting waiter with its own reason while the others keep waiting", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const ac = new AbortController();
      const a = g.do("k", m.fn, { signal: ac.signal });
      const b = g.do("k", m.fn);
      const reason = new Error("a gave up");
      ac.abort(reason);
      await expect(a).rejects.toBe(reason);
      expect(await state(b)).toBe("pending");
      expect(m.run(0).signal.aborted).toBe(false);
      expect(g.has("k")).toBe(true);
      m.run(0).resolve("for b");
      await expect(b).resolves.toBe("for b");
    });

    it("uses the default AbortError reason when the signal was aborted without one", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const ac = new AbortController();
      const a = g.do("k", m.fn, { signal: ac.signal });
      ac.abort();
      await expect(a).rejects.toMatchObject({ name: "AbortError" });
    });

    it("aborts fn's signal only when every waiter has aborted", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const ac1 = new AbortController();
      const ac2 = new AbortController();
      const a = g.do("k", m.fn, { signal: ac1.signal });
      const b = g.do("k", m.fn, { signal: ac2.signal });
      ac1.abort(new Error("first"));
      await expect(a).rejects.toThrow("first");
      expect(m.run(0).signal.aborted).toBe(false);
      const last = new Error("second");
      ac2.abort(last);
      await expect(b).rejects.toBe(last);
      expect(m.run(0).signal.aborted).toBe(true);
      expect(m.run(0).signal.reason).toBe(last);
      expect(g.size).toBe(0);
    });

    it("starts a fresh run for a caller that comes right after every waiter aborted", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const ac = new AbortController();
      const a = g.do("k", m.fn, { signal: ac.signal });
      ac.abort(new Error("stop"));
      // No tick in between: the doomed run must not be joined.
      const b = g.do("k", m.fn);
      expect(m.runs).toHaveLength(2);
      expect(m.run(0).signal.aborted).toBe(true);
      expect(m.run(1).signal.aborted).toBe(false);
      await expect(a).rejects.toThrow("stop");

      // The abandoned run settling late must not touch the fresh one.
      m.run(0).resolve("stale");
      await tick();
      expect(await state(b)).toBe("pending");
      expect(g.has("k")).toBe(true);
      m.run(1).resolve("fresh");
      await expect(b).resolves.toBe("fresh");
      expect(g.size).toBe(0);
    });

    it("keeps the fresh run's key when the abandoned run later fails", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const ac = new AbortController();
      const a = g.do("k", m.fn, { signal: ac.signal });
      ac.abort(new Error("stop"));
      await expect(a).rejects.toThrow("stop");
      const b = g.do("k", m.fn);
      m.run(0).reject(new Error("aborted run failed"));
      await tick();
      expect(g.has("k")).toBe(true);
      const c = g.do("k", m.fn);
      expect(m.runs).toHaveLength(2);
      m.run(1).resolve("ok");
      await expect(b).resolves.toBe("ok");
      await expect(c).resolves.toBe("ok");
    });

    it("does not abort fn while a waiter without a signal remains", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const plain = g.do("k", m.fn);
      const ac = new AbortController();
      const a = g.do("k", m.fn, { signal: ac.signal });
      ac.abort(new Error("bye"));
      await expect(a).rejects.toThrow("bye");
      expect(m.run(0).signal.aborted).toBe(false);
      m.run(0).resolve("kept");
      await expect(plain).resolves.toBe("kept");
    });

    it("handles a waiter aborted synchronously from inside fn", async () => {
      const g = new Group<string>();
      const ac = new AbortController();
      let seen: AbortSignal | undefined;
      const a = g.do(
        "k",
        (signal) => {
          seen = signal;
          ac.abort(new Error("inside"));
          return new Promise<string>(() => {});
        },
        { signal: ac.signal },
      );
      await expect(a).rejects.toThrow("inside");
      expect(seen?.aborted).toBe(true);
      expect(g.size).toBe(0);
    });

    it("removes its abort listeners from caller signals once the run settles", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const ac = new AbortController();
      const a = g.do("k", m.fn, { signal: ac.signal });
      const b = g.do("k", m.fn, { signal: ac.signal });
      expect(getEventListeners(ac.signal, "abort")).toHaveLength(2);
      m.run(0).resolve("v");
      await Promise.all([a, b]);
      expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
      // Aborting later changes nothing.
      ac.abort();
      await expect(a).resolves.toBe("v");
    });

    it("rejects a key that is not a string and an fn that is not a function", async () => {
      const g = new Group<string>();
      const badKey = g.do(42 as unknown as string, async () => "x");
      await expect(badKey).rejects.toSatisfy(isInvalidArgument);
      await expect(badKey).rejects.toThrow("key must be a string, got number");
      const badFn = g.do("k", "nope" as unknown as () => Promise<string>);
      await expect(badFn).rejects.toSatisfy(isInvalidArgument);
      await expect(badFn).rejects.toThrow('fn for key "k" must be a function');
      expect(g.size).toBe(0);
    });

    it("accepts the empty string as a key", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      const a = g.do("", m.fn);
      const b = g.do("", m.fn);
      expect(m.runs).toHaveLength(1);
      m.run(0).resolve("empty");
      await expect(Promise.all([a, b])).resolves.toEqual(["empty", "empty"]);
    });

    it("leaves nothing behind after thousands of keys that succeed, fail or abort", async () => {
      const g = new Group<number>();
      const n = 3000;
      const runs = new Map<string, number>();
      const pending: Promise<unknown>[] = [];
      const controllers: AbortController[] = [];
      for (let i = 0; i < n; i++) {
        const key = `key-${i}`;
        const fn = async (signal: AbortSignal) => {
          runs.set(key, (runs.get(key) ?? 0) + 1);
          await tick();
          if (i % 3 === 1) throw new Error(`fail ${i}`);
          if (i % 3 === 2) {
            await new Promise((resolve) => signal.addEventListener("abort", resolve));
            throw signal.reason;
          }
          return i;
        };
        for (let j = 0; j < 3; j++) {
          const ac = new AbortController();
          controllers.push(ac);
          pending.push(g.do(key, fn, i % 3 === 2 ? { signal: ac.signal } : {}));
        }
      }
      expect(g.size).toBe(n);
      for (const ac of controllers) ac.abort(new Error("cancelled"));
      const results = await Promise.allSettled(pending);
      expect(g.size).toBe(0);
      expect(runs.size).toBe(n);
      expect([...runs.values()].every((c) => c === 1)).toBe(true);
      const fulfilled = results.filter((r) => r.status === "fulfilled");
      expect(fulfilled).toHaveLength(3 * Math.ceil(n / 3));
      for (const ac of controllers) {
        expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
      }
    });
  });

  describe("has", () => {
    it("is true while a run is joinable and false after it settles or is abandoned", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      expect(g.has("k")).toBe(false);
      const a = g.do("k", m.fn);
      expect(g.has("k")).toBe(true);
      expect(g.has("other")).toBe(false);
      m.run(0).resolve("v");
      await a;
      expect(g.has("k")).toBe(false);

      const ac = new AbortController();
      const b = g.do("k", m.fn, { signal: ac.signal });
      expect(g.has("k")).toBe(true);
      ac.abort();
      expect(g.has("k")).toBe(false);
      await expect(b).rejects.toMatchObject({ name: "AbortError" });
    });
  });

  describe("size", () => {
    it("counts the keys in flight", async () => {
      const g = new Group<string>();
      const m = manual<string>();
      expect(g.size).toBe(0);
      const a = g.do("a", m.fn);
      const b = g.do("b", m.fn);
      const a2 = g.do("a", m.fn);
      expect(g.size).toBe(2);
      m.run(0).resolve("A");
      await Promise.all([a, a2]);
      expect(g.size).toBe(1);
      m.run(1).resolve("B");
      await b;
      expect(g.size).toBe(0);
    });
  });
});
