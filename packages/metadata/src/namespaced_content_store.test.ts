import { randomBytes } from "node:crypto";
import { contentSuite } from "@strata/content/testsuite";
import { isAlreadyExists, isInvalidArgument, isNotFound } from "@strata/errdefs";
import { withLease } from "@strata/leases";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openTestDb, put, sha256, type TestDb } from "./_test_util.ts";

contentSuite("NamespacedContentStore", async () => {
  const t = await openTestDb();
  return {
    store: t.db.contentStore("suite"),
    cleanup: () => t.cleanup(),
    reopen: async () => (await t.reopen()).contentStore("suite"),
  };
});

async function code(promise: Promise<unknown>, guard: (err: unknown) => boolean): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(guard(caught), `unexpected outcome: ${String(caught)}`).toBe(true);
}

describe("NamespacedContentStore", () => {
  let t: TestDb;
  beforeEach(async () => {
    t = await openTestDb();
  });
  afterEach(() => t.cleanup());

  it("keeps namespaces apart while sharing the bytes", async () => {
    const a = t.db.contentStore("ns-a");
    const b = t.db.contentStore("ns-b");
    const digest = await put(a, "one", { labels: { who: "a" } });
    await code(b.info(digest), isNotFound);
    await code(b.readerAt({ digest }), isNotFound);
    await code(b.delete(digest), isNotFound);
    const seen: string[] = [];
    await b.walk((info) => {
      seen.push(info.digest);
    });
    expect(seen).toEqual([]);
    // The same bytes written in b give b its own record and labels.
    const data = randomBytes(10);
    await put(a, "x", { data });
    await put(b, "x", { data, labels: { who: "b" } });
    expect((await b.info(sha256(data))).labels).toEqual({ who: "b" });
    expect((await a.info(sha256(data))).labels).toEqual({});
    await a.delete(sha256(data));
    expect((await b.info(sha256(data))).size).toBe(10);
    expect((await t.blobs.info(sha256(data))).size).toBe(10);
    expect(await b.listStatuses()).toEqual([]);
  });

  it("records a blob only the backend has and answers AlreadyExists, leasing it", async () => {
    const a = t.db.contentStore("ns-a");
    const data = randomBytes(32);
    const digest = await put(a, "src", { data });
    const lease = await t.db.leases("ns-b").create({ id: "pull" });
    const b = t.db.contentStore("ns-b", { lease: lease.id });
    await code(b.writer({ ref: "pull-1", desc: { digest, size: data.length } }), isAlreadyExists);
    expect((await b.info(digest)).size).toBe(32);
    expect(await t.db.leases("ns-b").listResources(lease)).toEqual([
      { id: digest, type: "content" },
    ]);
    await code(b.status("pull-1"), isNotFound);
  });

  it("adds ingests and committed blobs to the lease, from options or withLease", async () => {
    const leases = t.db.leases("ns");
    await leases.create({ id: "l1" });
    await leases.create({ id: "l2" });
    const store = t.db.contentStore("ns", { lease: "l1" });
    const writer = await store.writer({ ref: "in-progress" });
    await writer.write(new Uint8Array([1, 2]));
    await writer.close();
    expect(await leases.listResources({ id: "l1" })).toEqual([
      { id: "in-progress", type: "ingests" },
    ]);
    const resumed = await store.writer({ ref: "in-progress" });
    const digest = sha256(new Uint8Array([1, 2]));
    await resumed.commit(2, digest);
    expect(await leases.listResources({ id: "l1" })).toEqual([{ id: digest, type: "content" }]);
    const plain = t.db.contentStore("ns");
    const other = await withLease("l2", () => put(plain, "ctx"));
    expect(await leases.listResources({ id: "l2" })).toEqual([{ id: other, type: "content" }]);
  });

  it("fails with NotFound when the lease does not exist", async () => {
    const store = t.db.contentStore("ns", { lease: "missing" });
    await code(store.writer({ ref: "x" }), isNotFound);
  });

  it("fails with NotFound, recording nothing, when the lease goes while sharing a blob", async () => {
    // Found by gc_random.test.ts: this used to fail with a raw FOREIGN KEY error.
    const data = randomBytes(32);
    const digest = await put(t.db.contentStore("other"), "x", { data });
    for (const recorded of [false, true]) {
      if (recorded) await put(t.db.contentStore("ns"), "y", { data });
      await t.db.leases("ns").create({ id: "brief" });
      const store = t.db.contentStore("ns", { lease: "brief" });
      // writer() checks the lease, then waits for the content lock: delete it in between.
      const opening = store.writer({ ref: "z", desc: { digest } });
      await t.db.leases("ns").delete({ id: "brief" });
      await code(opening, isNotFound);
      const info = t.db.contentStore("ns").info(digest);
      if (recorded) expect((await info).digest).toBe(digest);
      else await code(info, isNotFound);
    }
  });

  it("rejects labels over 4096 bytes on commit and update, accepting exactly 4096", async () => {
    const store = t.db.contentStore("ns");
    const key = "k";
    const fits = { [key]: "v".repeat(4095) };
    const digest = await put(store, "fits", { labels: fits });
    expect((await store.info(digest)).labels).toEqual(fits);
    await code(store.update({ digest, labels: { [key]: "v".repeat(4096) } }), isInvalidArgument);
    await code(
      store.update({ digest, labels: { é: "v".repeat(4095) } }, { fieldpaths: ["labels.é"] }),
      isInvalidArgument,
    );
    await code(store.update({ digest, labels: {} }, { fieldpaths: ["size"] }), isInvalidArgument);
    expect((await store.info(digest)).labels).toEqual(fits);
  });

  it("rejects bad namespaces and digests", async () => {
    for (const bad of ["", "a/b", "-x", "x-", "a..b", "x".repeat(77)]) {
      expect(() => t.db.contentStore(bad)).toThrow();
      let caught: unknown;
      try {
        t.db.contentStore(bad);
      } catch (err) {
        caught = err;
      }
      expect(isInvalidArgument(caught)).toBe(true);
    }
    expect(t.db.contentStore("a.b-c_d").namespace).toBe("a.b-c_d");
    await code(t.db.contentStore("ns").info("sha256:nope"), isInvalidArgument);
  });
});
