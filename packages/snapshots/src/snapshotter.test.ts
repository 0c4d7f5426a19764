import { describe, expect, it } from "vitest";
import { NativeSnapshotter } from "./native.ts";
import { isCleaner, type Snapshotter } from "./snapshotter.ts";

describe("isCleaner", () => {
  it("is true for a snapshotter with cleanup and false without", () => {
    expect(isCleaner(Object.create(NativeSnapshotter.prototype) as Snapshotter)).toBe(true);
    const bare = { stat: async () => undefined } as unknown as Snapshotter;
    expect(isCleaner(bare)).toBe(false);
  });
});
