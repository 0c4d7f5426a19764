import { describe, expect, it } from "vitest";
import { currentLease, withLease } from "./lease_context.ts";

describe("withLease", () => {
  it("makes the lease current across awaits and restores the outer one", async () => {
    expect(currentLease()).toBeUndefined();
    await withLease("outer", async () => {
      await new Promise((r) => setTimeout(r, 1));
      expect(currentLease()).toBe("outer");
      await withLease("inner", async () => {
        await Promise.resolve();
        expect(currentLease()).toBe("inner");
      });
      expect(currentLease()).toBe("outer");
    });
    expect(currentLease()).toBeUndefined();
  });

  it("keeps concurrent calls apart", async () => {
    const seen = await Promise.all(
      ["a", "b"].map((id) =>
        withLease(id, async () => {
          await new Promise((r) => setTimeout(r, id === "a" ? 5 : 1));
          return currentLease();
        }),
      ),
    );
    expect(seen).toEqual(["a", "b"]);
  });
});
