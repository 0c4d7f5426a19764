import {
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
} from "@strata/errdefs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openTestDb, put, type TestDb } from "./_test_util.ts";

async function code(promise: Promise<unknown>, guard: (err: unknown) => boolean): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(guard(caught), `unexpected outcome: ${String(caught)}`).toBe(true);
}

describe("NamespaceStore", () => {
  let t: TestDb;
  beforeEach(async () => {
    t = await openTestDb();
  });
  afterEach(() => t.cleanup());

  it("creates, gets, lists, updates labels and deletes", async () => {
    const ns = t.db.namespaces;
    await ns.create("one", { labels: { a: "1", b: "2" } });
    await code(ns.create("one"), isAlreadyExists);
    expect((await ns.get("one")).labels).toEqual({ a: "1", b: "2" });
    await ns.update("one", { b: "3", c: "4" }, { fieldpaths: ["labels.b", "labels.a"] });
    expect((await ns.get("one")).labels).toEqual({ b: "3" });
    await ns.update("one", { z: "9" });
    expect((await ns.get("one")).labels).toEqual({ z: "9" });
    await code(ns.update("one", {}, { fieldpaths: ["name"] }), isInvalidArgument);
    await code(ns.update("one", { k: "v".repeat(4096) }), isInvalidArgument);
    await ns.create("two");
    expect((await ns.list()).map((n) => n.name)).toEqual(["one", "two"]);
    await ns.delete("two");
    await code(ns.get("two"), isNotFound);
    await code(ns.delete("two"), isNotFound);
  });

  it("creates a namespace implicitly on first write", async () => {
    await t.db.leases("implicit").create({ id: "x" });
    expect((await t.db.namespaces.list()).map((n) => n.name)).toEqual(["implicit"]);
  });

  it("refuses to delete a namespace with content, but not one with only leases", async () => {
    await put(t.db.contentStore("full"), "x");
    await code(t.db.namespaces.delete("full"), isFailedPrecondition);
    await t.db.leases("leased").create({ id: "l" });
    await t.db.namespaces.delete("leased");
    expect((await t.db.namespaces.list()).map((n) => n.name)).toEqual(["full"]);
  });

  it("validates names as containerd identifiers", async () => {
    for (const bad of ["", "UPPER/x", "a b", ".a", "a.", "a__b", "x".repeat(77)]) {
      await code(t.db.namespaces.create(bad), isInvalidArgument);
    }
    await t.db.namespaces.create("x".repeat(76));
    await t.db.namespaces.create("k8s.io");
  });
});
