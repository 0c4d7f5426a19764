import type { CacheProgress } from "@strata/core";
import { NotFoundError } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { progressOf } from "./_progress.ts";

const event = (id: string, current: number, done = false): CacheProgress => ({
  id,
  action: done ? "done" : "pushing",
  current,
  total: 10_000,
  done,
});

describe("progressOf", () => {
  it("keeps one pending event per id while the client does not read, and every last one", async () => {
    const stream = progressOf(
      async (emit) => {
        for (let i = 1; i <= 10_000; i++) emit(event("a", i));
        for (let i = 1; i <= 5_000; i++) emit(event("b", i));
        emit(event("b", 10_000, true));
        emit(event("a", 10_000, true));
        emit(event("c", 7));
        return 42;
      },
      (n) => ({ id: `result-${n}` }),
    );
    // Nothing is read until the operation is over: everything is queued.
    const got = [];
    for await (const m of stream) got.push([m.id, Number(m.current), m.done]);
    expect(got).toEqual([
      ["a", 10_000, true],
      ["b", 10_000, true],
      ["c", 7, false],
      ["result-42", 0, true],
    ]);
  });

  it("streams events as they come when the client keeps up", async () => {
    let release: (() => void) | undefined;
    const stream = progressOf(
      async (emit) => {
        emit(event("a", 1));
        await new Promise<void>((r) => {
          release = r;
        });
        emit(event("a", 2));
        return 0;
      },
      () => ({}),
    );
    const first = await stream.next();
    expect(Number(first.value?.current)).toBe(1);
    release?.();
    const rest = [];
    for await (const m of stream) rest.push(Number(m.current));
    expect(rest).toEqual([2, 0]);
  });

  it("ends with the operation's error as its gRPC status", async () => {
    const stream = progressOf(
      async (emit) => {
        emit(event("a", 1));
        throw new NotFoundError("no such ref");
      },
      () => ({}),
    );
    const drain = async () => {
      for await (const _ of stream) {
        // only the outcome matters
      }
    };
    // Connect's NotFound, read back as errdefs' by the client.
    await expect(drain()).rejects.toMatchObject({ code: 5, rawMessage: "no such ref" });
  });
});
