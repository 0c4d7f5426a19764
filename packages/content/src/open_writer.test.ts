import { describe, expect, it } from "vitest";
import { openWriter } from "./open_writer.ts";
import { tempStore } from "./testdata/temp_store.ts";

describe("openWriter", () => {
  it("waits for the holder of the ref to let go", async () => {
    await using t = await tempStore();
    const first = await t.store.writer({ ref: "wait" });
    setTimeout(() => void first.close(), 60);
    const started = Date.now();
    const second = await openWriter(t.store, { ref: "wait" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
    await second.close();
  });

  it("gives up when the signal aborts, and passes other errors at once", async () => {
    await using t = await tempStore();
    const held = await t.store.writer({ ref: "held" });
    await expect(
      openWriter(t.store, { ref: "held", signal: AbortSignal.timeout(80) }),
    ).rejects.toThrow(/timeout|abort/i);
    await expect(openWriter(t.store, { ref: "" })).rejects.toThrow(/ref must not be empty/);
    await held.close();
  });
});
