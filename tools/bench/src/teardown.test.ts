import { describe, expect, it } from "vitest";
import { Teardown } from "./teardown.ts";

describe("Teardown", () => {
  it("runs its steps last-added first, once", async () => {
    const order: number[] = [];
    const t = new Teardown([async () => order.push(1)]);
    t.add(async () => order.push(2));
    t.add(async () => order.push(3));
    await t.run();
    await t.run();
    expect(order).toEqual([3, 2, 1]);
  });

  it("stops at a failing step, or goes on past it when best effort", async () => {
    const ran: string[] = [];
    const strict = new Teardown([async () => ran.push("first")]);
    strict.add(async () => {
      throw new Error("boom");
    });
    await expect(strict.run()).rejects.toThrow("boom");
    expect(ran).toEqual([]);
    const lenient = new Teardown([async () => ran.push("first")], { bestEffort: true });
    lenient.add(async () => {
      throw new Error("boom");
    });
    await lenient.run();
    expect(ran).toEqual(["first"]);
  });
});
