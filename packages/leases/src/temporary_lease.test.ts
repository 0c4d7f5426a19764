import { isNotFound } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { LABEL_GC_EXPIRE } from "./labels.ts";
import { currentLease, withLease } from "./lease_context.ts";
import { MemoryLeaseManager } from "./memory_lease_manager.ts";
import { LABEL_TEMPORARY, withTemporaryLease } from "./temporary_lease.ts";

const DIGEST = `sha256:${"c".repeat(64)}`;

describe("withTemporaryLease", () => {
  it("runs fn under an expiring lease and deletes it on success", async () => {
    const m = new MemoryLeaseManager();
    let inside: string | undefined;
    const result = await withTemporaryLease(m, async (lease) => {
      inside = currentLease();
      expect(lease?.id).toBe(inside);
      expect(lease?.labels[LABEL_TEMPORARY]).toBeDefined();
      expect(lease?.labels[LABEL_GC_EXPIRE]).toBeDefined();
      expect((await m.list()).length).toBe(1);
      return 42;
    });
    expect(result).toBe(42);
    expect(inside).toBeDefined();
    expect(await m.list()).toEqual([]);
  });

  it("deletes the lease and rethrows when fn fails", async () => {
    const m = new MemoryLeaseManager();
    await expect(
      withTemporaryLease(m, async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect(await m.list()).toEqual([]);
  });

  it("moves the resources into adoptInto on success", async () => {
    const m = new MemoryLeaseManager();
    await m.create({ id: "keep" });
    await withTemporaryLease(
      m,
      async (lease) => {
        await m.addResource({ id: lease?.id ?? "" }, { type: "content", id: DIGEST });
      },
      { adoptInto: "keep" },
    );
    expect(await m.listResources({ id: "keep" })).toEqual([{ type: "content", id: DIGEST }]);
    expect((await m.list()).map((l) => l.id)).toEqual(["keep"]);
  });

  it("fails with NotFound when adoptInto does not exist, still deleting the lease", async () => {
    const m = new MemoryLeaseManager();
    let caught: unknown;
    try {
      await withTemporaryLease(
        m,
        async (lease) => {
          await m.addResource({ id: lease?.id ?? "" }, { type: "ingests", id: "x" });
        },
        { adoptInto: "missing" },
      );
    } catch (err) {
      caught = err;
    }
    expect(isNotFound(caught)).toBe(true);
    expect(await m.list()).toEqual([]);
  });

  it("reuses a current lease unless told otherwise", async () => {
    const m = new MemoryLeaseManager();
    await withLease("outer", async () => {
      await withTemporaryLease(m, async (lease) => {
        expect(lease).toBeUndefined();
        expect(currentLease()).toBe("outer");
      });
      expect(await m.list()).toEqual([]);
      await withTemporaryLease(
        m,
        async (lease) => {
          expect(currentLease()).toBe(lease?.id);
          expect((await m.list()).length).toBe(1);
        },
        { reuseCurrent: false },
      );
    });
  });
});
