import { isAlreadyExists, isInvalidArgument, isNotFound, isNotImplemented } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { LABEL_GC_EXPIRE } from "../labels.ts";
import type { LeaseManager } from "../lease.ts";

/** What the factory of {@link leaseSuite} returns for one test. */
export interface LeaseSuiteInstance {
  /** A manager with no leases. */
  manager: LeaseManager;
  /** Releases what the manager left behind. */
  cleanup(): Promise<void>;
}

const DIGEST_A = `sha256:${"a".repeat(64)}`;
const DIGEST_B = `sha256:${"b".repeat(64)}`;

async function code(promise: Promise<unknown>, guard: (err: unknown) => boolean): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(guard(caught), `unexpected outcome: ${String(caught)}`).toBe(true);
}

/**
 * Registers the lease manager conformance tests under `describe(name)`.
 * `factory` is called once per test.
 */
export function leaseSuite(name: string, factory: () => Promise<LeaseSuiteInstance>): void {
  async function withManager(fn: (manager: LeaseManager) => Promise<void>): Promise<void> {
    const instance = await factory();
    try {
      await fn(instance.manager);
    } finally {
      await instance.cleanup();
    }
  }

  describe(name, () => {
    it("creates, lists and deletes leases", () =>
      withManager(async (m) => {
        const before = Date.now();
        const lease = await m.create({ id: "one", labels: { a: "1" } });
        expect(lease.id).toBe("one");
        expect(lease.labels).toEqual({ a: "1" });
        expect(lease.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1);
        await m.create({ id: "two" });
        expect((await m.list()).map((l) => l.id).sort()).toEqual(["one", "two"]);
        await m.delete({ id: "one" });
        expect((await m.list()).map((l) => l.id)).toEqual(["two"]);
      }));

    it("generates distinct ids when none is given", () =>
      withManager(async (m) => {
        const a = await m.create();
        const b = await m.create();
        expect(a.id).not.toBe("");
        expect(a.id).not.toBe(b.id);
      }));

    it("fails with AlreadyExists on a duplicate id and NotFound on a missing one", () =>
      withManager(async (m) => {
        await m.create({ id: "dup" });
        await code(m.create({ id: "dup" }), isAlreadyExists);
        await code(m.delete({ id: "nope" }), isNotFound);
        await code(m.listResources({ id: "nope" }), isNotFound);
        await code(m.addResource({ id: "nope" }, { type: "content", id: DIGEST_A }), isNotFound);
      }));

    it("sets the gc.expire label from expiresIn", () =>
      withManager(async (m) => {
        const before = Date.now();
        const lease = await m.create({ expiresIn: 60_000 });
        const expire = Date.parse(lease.labels[LABEL_GC_EXPIRE] ?? "");
        expect(expire).toBeGreaterThanOrEqual(before + 60_000 - 1000);
        expect(expire).toBeLessThanOrEqual(Date.now() + 60_000 + 1000);
        await code(m.create({ expiresIn: -1 }), isInvalidArgument);
      }));

    it("filters leases by id and labels", () =>
      withManager(async (m) => {
        await m.create({ id: "x1", labels: { kind: "build" } });
        await m.create({ id: "x2", labels: { kind: "pull" } });
        await m.create({ id: "y1" });
        const ids = async (filters: string[]) =>
          (await m.list({ filters })).map((l) => l.id).sort();
        expect(await ids(["labels.kind==build"])).toEqual(["x1"]);
        expect(await ids(["labels.kind"])).toEqual(["x1", "x2"]);
        expect(await ids(["id~=^x", "id==y1"])).toEqual(["x1", "x2", "y1"]);
        await code(m.list({ filters: ["id=="] }), isInvalidArgument);
      }));

    it("adds, lists and removes resources of every type", () =>
      withManager(async (m) => {
        await m.create({ id: "r" });
        const resources = [
          { type: "content", id: DIGEST_A },
          { type: "content", id: DIGEST_B },
          { type: "ingests", id: "pull-1" },
          { type: "snapshots/overlayfs", id: "sha256:chain" },
        ];
        for (const r of resources) await m.addResource({ id: "r" }, r);
        await m.addResource({ id: "r" }, { type: "content", id: DIGEST_A });
        const key = (r: { type: string; id: string }) => `${r.type} ${r.id}`;
        expect((await m.listResources({ id: "r" })).map(key).sort()).toEqual(
          resources.map(key).sort(),
        );
        await m.deleteResource({ id: "r" }, { type: "content", id: DIGEST_A });
        await m.deleteResource({ id: "r" }, { type: "content", id: DIGEST_A });
        expect((await m.listResources({ id: "r" })).length).toBe(3);
      }));

    it("rejects bad resources", () =>
      withManager(async (m) => {
        await m.create({ id: "bad" });
        await code(
          m.addResource({ id: "bad" }, { type: "content", id: "not-a-digest" }),
          isInvalidArgument,
        );
        await code(m.addResource({ id: "bad" }, { type: "images", id: "x" }), isNotImplemented);
        await code(m.addResource({ id: "bad" }, { type: "snapshots/", id: "x" }), isNotImplemented);
        await code(m.addResource({ id: "bad" }, { type: "ingests", id: "" }), isInvalidArgument);
      }));
  });
}
