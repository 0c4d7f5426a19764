import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  LABEL_GC_EXPIRE,
  LABEL_GC_FLAT,
  LABEL_GC_REF_CONTENT,
  LABEL_GC_ROOT,
} from "@strata/leases";
import type { Digest } from "@strata/oci";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { inBackend, openTestDb, put, type TestDb } from "./_test_util.ts";

describe("MetadataDB.gc", () => {
  let t: TestDb;
  beforeEach(async () => {
    t = await openTestDb();
  });
  afterEach(() => t.cleanup());

  const present = async (ns: string, digest: Digest) => {
    try {
      await t.db.contentStore(ns).info(digest);
      return true;
    } catch {
      return false;
    }
  };

  it("collects a blob nothing holds, record and bytes", async () => {
    const data = randomBytes(100);
    const digest = await put(t.db.contentStore("ns"), "x", { data });
    const stats = await t.db.gc();
    expect(stats).toMatchObject({
      removedContent: 1,
      removedBytes: 100,
      removedLeases: 0,
      removedSnapshots: 0,
    });
    expect(stats.durationMs).toBeGreaterThanOrEqual(0);
    expect(await present("ns", digest)).toBe(false);
    expect(await inBackend(t.blobs, digest)).toBe(false);
  });

  it("keeps what a lease holds, and collects it once the lease is deleted", async () => {
    await t.db.leases("ns").create({ id: "hold" });
    const digest = await put(t.db.contentStore("ns", { lease: "hold" }), "x");
    expect((await t.db.gc()).removedContent).toBe(0);
    expect(await present("ns", digest)).toBe(true);
    await t.db.leases("ns").delete({ id: "hold" }, { sync: true });
    expect(await present("ns", digest)).toBe(false);
    expect(await inBackend(t.blobs, digest)).toBe(false);
  });

  it("keeps bytes another namespace still records", async () => {
    const data = randomBytes(10);
    await t.db.leases("b").create({ id: "keep" });
    const digest = await put(t.db.contentStore("a"), "x", { data });
    await put(t.db.contentStore("b", { lease: "keep" }), "x", { data });
    const stats = await t.db.gc();
    expect(stats.removedContent).toBe(0);
    expect(stats.removedRecords).toBe(1);
    expect(await present("a", digest)).toBe(false);
    expect(await present("b", digest)).toBe(true);
    expect(await inBackend(t.blobs, digest)).toBe(true);
  });

  it("follows gc.ref.content labels through a chain, and stops at a dead edge", async () => {
    const store = t.db.contentStore("ns");
    const layer = await put(store, "layer");
    const config = await put(store, "config");
    const manifest = await put(store, "manifest", {
      labels: {
        [`${LABEL_GC_REF_CONTENT}.l.0`]: layer,
        [`${LABEL_GC_REF_CONTENT}/config`]: config,
        [`${LABEL_GC_REF_CONTENT}.m.1`]: `sha256:${"0".repeat(64)}`,
      },
    });
    const index = await put(store, "index", {
      labels: { [LABEL_GC_ROOT]: "2026-01-01T00:00:00Z", [LABEL_GC_REF_CONTENT]: manifest },
    });
    const stray = await put(store, "stray", { labels: { "containerd.io/gc.ref.contentx": layer } });
    const stats = await t.db.gc();
    expect(stats.removedContent).toBe(1);
    for (const d of [index, manifest, config, layer]) expect(await present("ns", d)).toBe(true);
    expect(await present("ns", stray)).toBe(false);
    // Dropping the root label releases the whole chain.
    await store.update({ digest: index, labels: {} }, { fieldpaths: [`labels.${LABEL_GC_ROOT}`] });
    expect((await t.db.gc()).removedContent).toBe(4);
  });

  it("holds only direct resources of a gc.flat lease", async () => {
    const leases = t.db.leases("ns");
    await leases.create({ id: "flat", labels: { [LABEL_GC_FLAT]: "1" } });
    const store = t.db.contentStore("ns");
    const child = await put(store, "child");
    const parent = await put(store, "parent", { labels: { [LABEL_GC_REF_CONTENT]: child } });
    await leases.addResource({ id: "flat" }, { type: "content", id: parent });
    await t.db.gc();
    expect(await present("ns", parent)).toBe(true);
    expect(await present("ns", child)).toBe(false);
    // The same reference through a normal lease is followed.
    const child2 = await put(store, "child2");
    const parent2 = await put(store, "parent2", { labels: { [LABEL_GC_REF_CONTENT]: child2 } });
    await leases.create({ id: "deep" });
    await leases.addResource({ id: "deep" }, { type: "content", id: parent2 });
    await leases.addResource({ id: "flat" }, { type: "content", id: parent2 });
    await t.db.gc();
    expect(await present("ns", child2)).toBe(true);
  });

  it("removes expired leases and what only they held; keeps unparsable expiry", async () => {
    const leases = t.db.leases("ns");
    await leases.create({ id: "short", expiresIn: 1 });
    await leases.create({ id: "long", expiresIn: 3_600_000 });
    await leases.create({ id: "odd", labels: { [LABEL_GC_EXPIRE]: "not a time" } });
    const gone = await put(t.db.contentStore("ns", { lease: "short" }), "a");
    const kept = await put(t.db.contentStore("ns", { lease: "long" }), "b");
    await new Promise((r) => setTimeout(r, 5));
    const stats = await t.db.gc();
    expect(stats.removedLeases).toBe(1);
    expect((await leases.list()).map((l) => l.id)).toEqual(["long", "odd"]);
    expect(await present("ns", gone)).toBe(false);
    expect(await present("ns", kept)).toBe(true);
  });

  it("keeps a leased ingest and an unleased one for 24 hours, then aborts it", async () => {
    await t.db.leases("ns").create({ id: "up" });
    const leased = await t.db.contentStore("ns", { lease: "up" }).writer({ ref: "leased" });
    await leased.write(new Uint8Array(7));
    await leased.close();
    const loose = await t.db.contentStore("ns").writer({ ref: "loose" });
    await loose.write(new Uint8Array(3));
    await loose.close();
    // An orphan backend ingest nobody records goes at once.
    const orphan = await t.blobs.writer({ ref: "orphan" });
    await orphan.write(new Uint8Array(1));
    await orphan.close();
    let stats = await t.db.gc();
    expect(stats.removedIngests).toBe(1);
    const refs = async () =>
      (await t.db.contentStore("ns").listStatuses()).map((s) => s.ref).sort();
    expect(await refs()).toEqual(["leased", "loose"]);
    // Age the unleased ingest past its 24 h through a second handle.
    const raw = new DatabaseSync(join(t.root, "metadata.db"), { timeout: 5000 });
    raw.prepare("UPDATE ingests SET expires_at = ? WHERE ref = 'loose'").run(Date.now() - 1);
    raw.close();
    stats = await t.db.gc();
    expect(stats.removedIngests).toBe(2); // the record and its backend ingest
    expect(await refs()).toEqual(["leased"]);
    expect((await t.blobs.listStatuses()).map((s) => s.ref)).toEqual(["ns/leased"]);
    await t.db.leases("ns").delete({ id: "up" }, { sync: true });
    expect(await refs()).toEqual([]);
    expect(await t.blobs.listStatuses()).toEqual([]);
  });

  it("follows snapshot references and parents", async () => {
    const store = t.db.contentStore("ns");
    const config = await put(store, "config", {
      labels: { [LABEL_GC_ROOT]: "x", "containerd.io/gc.ref.snapshot.overlayfs": "chain-2" },
    });
    const layer = await put(store, "layer");
    const raw = new DatabaseSync(join(t.root, "metadata.db"), { timeout: 5000 });
    const insert = raw.prepare(
      "INSERT INTO snapshots (namespace, snapshotter, key, parent, kind, labels, created_at, updated_at) VALUES ('ns', 'overlayfs', ?, ?, 'committed', ?, 0, 0)",
    );
    insert.run("chain-1", null, JSON.stringify({ [LABEL_GC_REF_CONTENT]: layer }));
    insert.run("chain-2", "chain-1", "{}");
    insert.run("loose", null, "{}");
    const stats = await t.db.gc();
    expect(stats.removedSnapshots).toBe(1);
    const keys = raw
      .prepare("SELECT key FROM snapshots ORDER BY key")
      .all()
      .map((r) => r.key);
    expect(keys).toEqual(["chain-1", "chain-2"]);
    raw.close();
    expect(await present("ns", config)).toBe(true);
    expect(await present("ns", layer)).toBe(true);
  });
});
