import { isInvalidArgument } from "@strata/errdefs";
import { leaseSuite } from "@strata/leases/testsuite";
import { describe, expect, it } from "vitest";
import { openTestDb } from "./_test_util.ts";

leaseSuite("MetadataLeaseManager", async () => {
  const t = await openTestDb();
  return { manager: t.db.leases("suite"), cleanup: () => t.cleanup() };
});

describe("MetadataLeaseManager", () => {
  it("keeps leases of namespaces apart", async () => {
    const t = await openTestDb();
    try {
      await t.db.leases("a").create({ id: "same" });
      await t.db.leases("b").create({ id: "same", labels: { ns: "b" } });
      expect((await t.db.leases("a").list())[0]?.labels).toEqual({});
      expect((await t.db.leases("b").list())[0]?.labels).toEqual({ ns: "b" });
      await t.db.leases("a").delete({ id: "same" });
      expect((await t.db.leases("b").list()).length).toBe(1);
    } finally {
      await t.cleanup();
    }
  });

  it("rejects a bad namespace and oversized labels", async () => {
    const t = await openTestDb();
    try {
      expect(() => t.db.leases("no/slash")).toThrow();
      let caught: unknown;
      try {
        await t.db.leases("ns").create({ labels: { k: "v".repeat(5000) } });
      } catch (err) {
        caught = err;
      }
      expect(isInvalidArgument(caught)).toBe(true);
    } finally {
      await t.cleanup();
    }
  });
});
