import { DatabaseSync } from "node:sqlite";
import { isFailedPrecondition, isInvalidArgument, isNotFound } from "@strata/errdefs";
import { type Digest, digestOf } from "@strata/oci";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openTestDb, type TestDb } from "./_test_util.ts";
import { type CacheRecord, CacheRecordStore, newCacheRecord } from "./cache_records.ts";

function record(id: string, patch: Partial<CacheRecord> = {}): CacheRecord {
  return newCacheRecord(id, { createdAt: new Date(1000), ...patch });
}

describe("CacheRecordStore", () => {
  let t: TestDb;
  let store: CacheRecordStore;
  beforeEach(async () => {
    t = await openTestDb();
    store = CacheRecordStore.open(t.db, "default");
  });
  afterEach(async () => {
    store.close();
    await t.cleanup();
  });

  it("round-trips every field of a record", () => {
    const chain = digestOf("chain");
    const r = record("a", {
      kind: "layer",
      parent: "p",
      committed: false,
      equalMutable: "m",
      blob: digestOf("blob"),
      diffID: digestOf("diff"),
      chainID: chain,
      blobChainID: digestOf("bc"),
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      blobSize: 42,
      blobOnly: true,
      urls: ["https://x"],
      imageRefs: ["docker.io/library/alpine:latest"],
      size: 99,
      cachePolicy: "retain",
      recordType: "exec.cachemount",
      description: "hello",
      lastUsedAt: new Date(2000),
      usageCount: 3,
      labels: { a: "b" },
      extra: { n: 1 },
    });
    store.put(r);
    expect(store.get("a")).toEqual(r);
    expect(store.byChainID(chain).map((x) => x.id)).toEqual(["a"]);
    expect(store.byBlobChainID(digestOf("bc")).map((x) => x.id)).toEqual(["a"]);
  });

  it("finds children by parent, merge input and diff input", () => {
    store.put(record("p"));
    store.put(record("c1", { kind: "layer", parent: "p" }));
    store.put(record("c2", { kind: "merge", mergeParents: ["x", "p"], createdAt: new Date(2000) }));
    store.put(record("c3", { kind: "diff", lowerDiffParent: "p", createdAt: new Date(3000) }));
    store.put(record("other", { kind: "layer", parent: "x" }));
    expect(store.children("p").map((x) => x.id)).toEqual(["c1", "c2", "c3"]);
  });

  it("updates and deletes records", () => {
    store.put(record("a"));
    store.update("a", (r) => {
      r.usageCount++;
    });
    expect(store.require("a").usageCount).toBe(1);
    expect(store.delete("a")).toBe(true);
    expect(store.delete("a")).toBe(false);
    expect(store.get("a")).toBeUndefined();
  });

  it("keeps namespaces apart", () => {
    const other = CacheRecordStore.open(t.db, "other");
    try {
      store.put(record("a"));
      expect(other.get("a")).toBeUndefined();
      expect(other.list()).toEqual([]);
    } finally {
      other.close();
    }
  });

  it("rejects bad records", () => {
    expect(() => store.put(record(""))).toThrow(/empty id/);
    expect(() => store.put(record("a", { blob: "nope" as Digest }))).toThrow(/not a digest/);
    expect(() => store.put(record("a", { parent: "p", mergeParents: ["q"] }))).toThrow(
      /at most one/,
    );
    expect(() => store.put(record("a", { kind: "weird" as "base" }))).toThrow(/unknown kind/);
    try {
      store.put(record("a", { snapshotID: "" }));
    } catch (err) {
      expect(isInvalidArgument(err)).toBe(true);
    }
  });

  it("throws NotFound for a missing record and on a bad namespace", () => {
    expect(() => store.require("nope")).toThrow(/not found/);
    try {
      store.require("nope");
    } catch (err) {
      expect(isNotFound(err)).toBe(true);
    }
    expect(() => CacheRecordStore.open(t.db, "bad name!")).toThrow();
  });

  it("refuses a database without the v3 table", () => {
    const path = `${t.root}/old.db`;
    const raw = new DatabaseSync(path);
    raw.exec("CREATE TABLE x (a INTEGER)");
    raw.close();
    try {
      CacheRecordStore.open({ path }, "default");
      expect.unreachable();
    } catch (err) {
      expect(isFailedPrecondition(err)).toBe(true);
    }
  });
});
