import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  LABEL_GC_FLAT,
  LABEL_GC_REF_CONTENT,
  LABEL_GC_REF_SNAPSHOT,
  LABEL_GC_ROOT,
} from "@strata/leases";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSnapshotTestDb, type SnapshotTestDb } from "./_snapshot_test_util.ts";
import { inBackend, put } from "./_test_util.ts";
import type { NamespacedSnapshotter } from "./namespaced_snapshotter.ts";

describe("MetadataDB.gc with snapshotters", () => {
  let t: SnapshotTestDb;
  let sn: NamespacedSnapshotter;
  beforeEach(async () => {
    t = await openSnapshotTestDb();
    sn = t.db.snapshotter("ns", "native");
  });
  afterEach(() => t.cleanup());

  const visible = async (s: NamespacedSnapshotter = sn) => {
    const names: string[] = [];
    await s.walk((info) => {
      names.push(info.name);
    });
    return names;
  };
  const backendCount = async () => {
    let n = 0;
    await t.backend.walk(() => {
      n++;
    });
    return n;
  };

  /** Prepares `key` on `parent` and commits it as `name`. */
  const layer = async (name: string, parent: string, labels: Record<string, string> = {}) => {
    await sn.prepare(`${name}-active`, parent);
    await sn.commit(name, `${name}-active`, { labels });
  };

  it("collects an unheld snapshot, record and backend directory", async () => {
    await sn.prepare("loose", "");
    expect(await t.backendDirs()).toHaveLength(1);
    const stats = await t.db.gc();
    expect(stats).toMatchObject({ removedSnapshots: 1, removedBackendSnapshots: 1 });
    expect(await visible()).toEqual([]);
    expect(await t.backendDirs()).toEqual([]);
  });

  it("keeps what a lease holds until the lease is deleted", async () => {
    const leases = t.db.leases("ns");
    await leases.create({ id: "build" });
    const leased = t.db.snapshotter("ns", "native", { lease: "build" });
    await leased.prepare("base-a", "");
    await leased.commit("base", "base-a");
    await leased.prepare("work", "base");
    expect((await t.db.gc()).removedBackendSnapshots).toBe(0);
    expect(await visible()).toEqual(["base", "work"]);
    await leases.delete({ id: "build" }, { sync: true });
    expect(await visible()).toEqual([]);
    expect(await backendCount()).toBe(0);
    expect(await t.backendDirs()).toEqual([]);
  });

  it("keeps gc.root snapshots and the parents of what it keeps", async () => {
    await layer("l1", "");
    await layer("l2", "l1");
    await layer("l3", "l2", { [LABEL_GC_ROOT]: "x" });
    await layer("other", "");
    const stats = await t.db.gc();
    expect(stats).toMatchObject({ removedSnapshots: 1, removedBackendSnapshots: 1 });
    expect(await visible()).toEqual(["l1", "l2", "l3"]);
    // Drop the root: the whole chain goes, children before parents.
    await sn.update({ name: "l3", labels: {} });
    expect((await t.db.gc()).removedBackendSnapshots).toBe(3);
    expect(await t.backendDirs()).toEqual([]);
  });

  it("follows gc.ref.snapshot labels of content records", async () => {
    await layer("chain-1", "");
    await layer("chain-2", "chain-1");
    await layer("chain-x", "");
    const config = await put(t.db.contentStore("ns"), "config", {
      labels: { [LABEL_GC_ROOT]: "x", [`${LABEL_GC_REF_SNAPSHOT}native`]: "chain-2" },
    });
    // The same key in another snapshotter's name or namespace holds nothing here.
    await put(t.db.contentStore("other"), "config", {
      labels: { [LABEL_GC_ROOT]: "x", [`${LABEL_GC_REF_SNAPSHOT}native`]: "chain-x" },
    });
    await put(t.db.contentStore("ns"), "config2", {
      labels: { [LABEL_GC_ROOT]: "x", [`${LABEL_GC_REF_SNAPSHOT}overlayfs`]: "chain-x" },
    });
    await t.db.gc();
    expect(await visible()).toEqual(["chain-1", "chain-2"]);
    expect(await inBackend(t.blobs, config)).toBe(true);
    expect(await backendCount()).toBe(2);
  });

  it("follows a snapshot's content references unless the lease is flat", async () => {
    const store = t.db.contentStore("ns");
    const blob = await put(store, "blob");
    const leases = t.db.leases("ns");
    await leases.create({ id: "flat", labels: { [LABEL_GC_FLAT]: "1" } });
    const flat = t.db.snapshotter("ns", "native", { lease: "flat" });
    await layer("parent", "");
    await flat.prepare("child", "parent", { labels: { [LABEL_GC_REF_CONTENT]: blob } });
    await t.db.gc();
    // The parent is structural: kept even through a flat lease; the label reference is not.
    expect(await visible()).toEqual(["child", "parent"]);
    expect(await inBackend(t.blobs, blob)).toBe(false);

    const blob2 = await put(store, "blob2");
    await sn.prepare("rooted", "", {
      labels: { [LABEL_GC_ROOT]: "x", [LABEL_GC_REF_CONTENT]: blob2 },
    });
    await t.db.gc();
    expect(await inBackend(t.blobs, blob2)).toBe(true);
  });

  it("removes backend snapshots left after remove, children first", async () => {
    await layer("a", "", { [LABEL_GC_ROOT]: "x" });
    await layer("b", "a", { [LABEL_GC_ROOT]: "x" });
    await sn.prepare("c", "b", { labels: { [LABEL_GC_ROOT]: "x" } });
    await sn.remove("c");
    await sn.remove("b");
    await sn.remove("a");
    expect(await backendCount()).toBe(3);
    const stats = await t.db.gc();
    expect(stats).toMatchObject({ removedSnapshots: 0, removedBackendSnapshots: 3 });
    expect(await t.backendDirs()).toEqual([]);
  });

  it("keeps a backend snapshot another namespace still records", async () => {
    const other = t.db.snapshotter("other", "native");
    await layer("a", "", { [LABEL_GC_ROOT]: "x" });
    await other.prepare("a", "", { labels: { [LABEL_GC_ROOT]: "x" } });
    await sn.remove("a");
    expect((await t.db.gc()).removedBackendSnapshots).toBe(1);
    expect(await visible(other)).toEqual(["a"]);
    expect(await backendCount()).toBe(1);
  });

  it("removes backend snapshots no record knows and records whose backend is gone", async () => {
    await t.backend.prepare("orphan-a", "");
    await t.backend.commit("orphan", "orphan-a");
    await t.backend.prepare("orphan-child", "orphan");
    await sn.prepare("kept", "", { labels: { [LABEL_GC_ROOT]: "x" } });
    await sn.prepare("stale", "", { labels: { [LABEL_GC_ROOT]: "x" } });
    await t.backend.remove("ns/2/stale");
    expect(await visible()).toEqual(["kept"]);
    const stats = await t.db.gc();
    expect(stats).toMatchObject({ removedSnapshots: 1, removedBackendSnapshots: 2 });
    const raw = new DatabaseSync(join(t.root, "metadata.db"));
    expect(raw.prepare("SELECT key FROM snapshots").all()).toEqual([{ key: "kept" }]);
    raw.close();
    expect(await t.backendDirs()).toHaveLength(1);
  });

  it("recovers a commit cut short before or after the backend committed", async () => {
    await t.db.leases("ns").create({ id: "hold" });
    const leased = t.db.snapshotter("ns", "native", { lease: "hold" });
    await leased.prepare("before", "");
    await leased.prepare("after", "");
    // What a crash leaves: the reserved name recorded, the backend commit done or not.
    const raw = new DatabaseSync(join(t.root, "metadata.db"));
    const reserve = raw.prepare(
      `INSERT INTO snapshots (namespace, snapshotter, key, backend_key, parent, kind, labels, created_at, updated_at)
       VALUES ('ns', 'native', ?, ?, NULL, 'committed', '{}', 0, 0)`,
    );
    const lease = raw.prepare(
      "INSERT INTO lease_resources (namespace, lease, type, id) VALUES ('ns', 'hold', 'snapshots/native', ?)",
    );
    reserve.run("before-c", "ns/9/before-c");
    lease.run("before-c");
    reserve.run("after-c", "ns/10/after-c");
    lease.run("after-c");
    await t.backend.commit("ns/10/after-c", "ns/2/after");
    await t.reopen();
    sn = t.db.snapshotter("ns", "native");
    // Only complete snapshots show, before any GC.
    expect(await visible()).toEqual(["after-c", "before"]);
    const stats = await t.db.gc();
    expect(stats).toMatchObject({ removedSnapshots: 2, removedBackendSnapshots: 0 });
    expect(await t.db.leases("ns").listResources({ id: "hold" })).toEqual([
      { id: "after-c", type: "snapshots/native" },
      { id: "before", type: "snapshots/native" },
    ]);
    expect(raw.prepare("SELECT key FROM snapshots ORDER BY key").all()).toEqual([
      { key: "after-c" },
      { key: "before" },
    ]);
    raw.close();
    // The interrupted commit can be done again.
    await sn.commit("before-c", "before");
    expect((await sn.stat("before-c")).kind).toBe("committed");
  });

  it("makes the scheduler collect after a snapshot removal", async () => {
    await t.cleanup();
    t = await openSnapshotTestDb("native", { startupDelayMs: 0, pauseThreshold: 0.02 });
    sn = t.db.snapshotter("ns", "native");
    await sn.prepare("a", "", { labels: { [LABEL_GC_ROOT]: "x" } });
    expect(t.db.scheduler?.collections).toBe(0);
    await sn.remove("a");
    for (let i = 0; i < 200 && t.db.scheduler?.collections === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(t.db.scheduler?.collections).toBe(1);
    expect(await backendCount()).toBe(0);
  });
});
