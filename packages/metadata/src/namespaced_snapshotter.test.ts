import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  AlreadyExistsError,
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
} from "@strata/errdefs";
import { LABEL_GC_ROOT, withLease } from "@strata/leases";
import type { Mount, SnapshotInfo } from "@strata/snapshots";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSnapshotTestDb, rejection, type SnapshotTestDb } from "./_snapshot_test_util.ts";
import { LABEL_SNAPSHOT_REF } from "./namespaced_snapshotter.ts";

function dirOf(mounts: Mount[]): string {
  const [m] = mounts;
  if (m === undefined || m.type !== "bind") throw new Error("expected one bind mount");
  return m.source;
}

describe("NamespacedSnapshotter", () => {
  let t: SnapshotTestDb;
  beforeEach(async () => {
    t = await openSnapshotTestDb();
  });
  afterEach(() => t.cleanup());

  const backendKeys = async () => {
    const keys: string[] = [];
    await t.backend.walk((info) => {
      keys.push(info.name);
    });
    return keys.sort();
  };

  it("prepares, commits and stats with its own names over unique backend keys", async () => {
    const sn = t.db.snapshotter("ns", "native");
    const before = Date.now();
    const mounts = await sn.prepare("extract-1", "");
    await writeFile(join(dirOf(mounts), "hello"), "hi");
    expect(await backendKeys()).toEqual(["ns/1/extract-1"]);
    const active = await sn.stat("extract-1");
    expect(active).toMatchObject({ kind: "active", name: "extract-1", parent: "", labels: {} });
    expect(active.created.getTime()).toBeGreaterThanOrEqual(before);

    await sn.commit("layer-1", "extract-1");
    expect(await backendKeys()).toEqual(["ns/2/layer-1"]);
    expect(isNotFound(await rejection(sn.stat("extract-1")))).toBe(true);
    expect(await sn.stat("layer-1")).toMatchObject({ kind: "committed", parent: "" });

    const child = await sn.prepare("extract-2", "layer-1");
    expect(await readFile(join(dirOf(child), "hello"), "utf8")).toBe("hi");
    expect(await sn.stat("extract-2")).toMatchObject({ kind: "active", parent: "layer-1" });
    const view = await sn.view("look", "layer-1");
    expect(await readFile(join(dirOf(view), "hello"), "utf8")).toBe("hi");
    expect((await sn.stat("look")).kind).toBe("view");
    expect((await sn.usage("extract-2")).inodes).toBeGreaterThan(1);
    expect(t.db.snapshotterNames).toEqual(["native"]);
  });

  it("keeps namespaces apart: the same key in two namespaces is two snapshots", async () => {
    const a = t.db.snapshotter("a", "native");
    const b = t.db.snapshotter("b", "native");
    await writeFile(join(dirOf(await a.prepare("k", "")), "who"), "a");
    await writeFile(join(dirOf(await b.prepare("k", "")), "who"), "b");
    expect(await readFile(join(dirOf(await a.mounts("k")), "who"), "utf8")).toBe("a");
    expect(await readFile(join(dirOf(await b.mounts("k")), "who"), "utf8")).toBe("b");
    await a.commit("c", "k");
    expect(isNotFound(await rejection(b.stat("c")))).toBe(true);
    expect(isNotFound(await rejection(b.prepare("x", "c")))).toBe(true);
    const names = async (sn: typeof a) => {
      const out: string[] = [];
      await sn.walk((info) => {
        out.push(`${info.name}:${info.kind}`);
      });
      return out;
    };
    expect(await names(a)).toEqual(["c:committed"]);
    expect(await names(b)).toEqual(["k:active"]);
    await b.remove("k");
    expect(await names(a)).toEqual(["c:committed"]);
    expect(await names(b)).toEqual([]);
  });

  it("answers with containerd's error classes", async () => {
    const sn = t.db.snapshotter("ns", "native");
    await sn.prepare("active", "");
    await sn.view("view", "");
    await sn.prepare("base-a", "");
    await sn.commit("base", "base-a");
    await sn.prepare("child", "base");

    expect(isNotFound(await rejection(sn.stat("nope")))).toBe(true);
    expect(isNotFound(await rejection(sn.mounts("nope")))).toBe(true);
    expect(isNotFound(await rejection(sn.usage("nope")))).toBe(true);
    expect(isNotFound(await rejection(sn.remove("nope")))).toBe(true);
    expect(isNotFound(await rejection(sn.update({ name: "nope", labels: {} })))).toBe(true);
    expect(isNotFound(await rejection(sn.commit("x", "nope")))).toBe(true);
    expect(isAlreadyExists(await rejection(sn.prepare("active", "")))).toBe(true);
    expect(isAlreadyExists(await rejection(sn.view("base", "")))).toBe(true);
    expect(isAlreadyExists(await rejection(sn.commit("base", "active")))).toBe(true);
    expect(isNotFound(await rejection(sn.prepare("x", "missing")))).toBe(true);
    expect(isInvalidArgument(await rejection(sn.prepare("x", "active")))).toBe(true);
    expect(isFailedPrecondition(await rejection(sn.commit("x", "view")))).toBe(true);
    expect(isFailedPrecondition(await rejection(sn.commit("x", "base")))).toBe(true);
    expect(isFailedPrecondition(await rejection(sn.mounts("base")))).toBe(true);
    const withChild = await rejection(sn.remove("base"));
    expect(isFailedPrecondition(withChild)).toBe(true);
    expect(String(withChild)).toContain("remove");
    expect(isInvalidArgument(await rejection(sn.prepare("", "")))).toBe(true);
    expect(isInvalidArgument(await rejection(sn.commit("", "active")))).toBe(true);
    expect(isInvalidArgument(await rejection(sn.update({ name: "" })))).toBe(true);
    expect(
      isInvalidArgument(await rejection(sn.update({ name: "active" }, { fieldpaths: ["parent"] }))),
    ).toBe(true);
    const big = { k: "v".repeat(4096) };
    expect(isInvalidArgument(await rejection(sn.prepare("big", "", { labels: big })))).toBe(true);
    expect(isInvalidArgument(await rejection(sn.commit("big", "active", { labels: big })))).toBe(
      true,
    );
    expect(isInvalidArgument(await rejection(sn.update({ name: "active", labels: big })))).toBe(
      true,
    );
    expect(isInvalidArgument(await rejection(sn.walk(() => {}, { filters: ["name=="] })))).toBe(
      true,
    );
    expect(
      isNotFound(
        await rejection(t.db.snapshotter("ns", "native", { lease: "no" }).prepare("l", "")),
      ),
    ).toBe(true);
    expect(() => t.db.snapshotter("ns", "zfs")).toThrow(/not loaded/);
    expect(() => t.db.snapshotter("bad ns", "native")).toThrow();
    // Nothing half-made was left behind by the failures.
    expect(await backendKeys()).toEqual(["ns/1/active", "ns/2/view", "ns/4/base", "ns/5/child"]);
  });

  it("passes only snapshot labels to the backend and shows the merge", async () => {
    const sn = t.db.snapshotter("ns", "native");
    const labels = {
      [LABEL_GC_ROOT]: "yes",
      "containerd.io/snapshot/overlay.upperdir": "/u",
      [LABEL_SNAPSHOT_REF]: "chain",
      "user.label": "1",
    };
    await sn.prepare("a", "", { labels });
    expect((await t.backend.stat("ns/1/a")).labels).toEqual({
      "containerd.io/snapshot/overlay.upperdir": "/u",
      [LABEL_SNAPSHOT_REF]: "chain",
    });
    expect((await sn.stat("a")).labels).toEqual(labels);
    // A label set on the backend alone shows through, the record's win.
    await t.backend.update({ name: "ns/1/a", labels: { "containerd.io/snapshot/x": "b" } });
    expect((await sn.stat("a")).labels["containerd.io/snapshot/x"]).toBe("b");
  });

  it("does not carry the active snapshot's labels into the commit", async () => {
    const sn = t.db.snapshotter("ns", "native");
    await sn.prepare("a", "", { labels: { old: "1", "containerd.io/snapshot/o": "1" } });
    await sn.commit("c", "a", { labels: { new: "2" } });
    expect((await sn.stat("c")).labels).toEqual({ new: "2" });
    expect((await t.backend.stat("ns/2/c")).labels).toEqual({});
  });

  it("updates labels by fieldpath, bumps updated, keeps created, reaches the backend", async () => {
    const sn = t.db.snapshotter("ns", "native");
    await sn.prepare("a", "", { labels: { l1: "1", l2: "2" } });
    const before = await sn.stat("a");
    const after = await sn.update(
      { name: "a", labels: { l1: "one", "containerd.io/snapshot/s": "x", parent: "ignored" } },
      { fieldpaths: ["labels.l1", "labels.l2", "labels.containerd.io/snapshot/s"] },
    );
    expect(after.labels).toEqual({ l1: "one", "containerd.io/snapshot/s": "x" });
    expect(after.updated.getTime()).toBeGreaterThan(before.updated.getTime());
    expect(after.created).toEqual(before.created);
    expect(after).toMatchObject({ kind: "active", parent: "", name: "a" });
    expect(await sn.stat("a")).toEqual(after);
    expect((await t.backend.stat("ns/1/a")).labels).toEqual({ "containerd.io/snapshot/s": "x" });
    const replaced = await sn.update({ name: "a", labels: { only: "this" } });
    expect(replaced.labels).toEqual({ only: "this" });
    expect((await t.backend.stat("ns/1/a")).labels).toEqual({});
  });

  it("walks with containerd's filters", async () => {
    const sn = t.db.snapshotter("ns", "native");
    await sn.prepare("p-a", "");
    await sn.commit("p", "p-a");
    await sn.prepare("a", "p", { labels: { l: "1" } });
    await sn.view("v", "p", { labels: { l: "2" } });
    await sn.prepare("np", "");
    const walk = async (...filters: string[]) => {
      const out: string[] = [];
      await sn.walk(
        (info: SnapshotInfo) => {
          out.push(info.name);
        },
        { filters },
      );
      return out;
    };
    expect(await walk()).toEqual(["a", "np", "p", "v"]);
    expect(await walk("kind==committed")).toEqual(["p"]);
    expect(await walk("parent==p")).toEqual(["a", "v"]);
    expect(await walk("labels.l==2")).toEqual(["v"]);
    expect(await walk("name==a", "name==np")).toEqual(["a", "np"]);
    expect(await walk("kind==active,labels.l")).toEqual(["a"]);
  });

  it("removes only the record; the backend snapshot waits for GC", async () => {
    const sn = t.db.snapshotter("ns", "native");
    await sn.prepare("a", "", { labels: { [LABEL_GC_ROOT]: "x" } });
    await sn.remove("a");
    expect(isNotFound(await rejection(sn.stat("a")))).toBe(true);
    expect(await backendKeys()).toEqual(["ns/1/a"]);
    // The key is free again, with a new backend snapshot.
    await sn.prepare("a", "", { labels: { [LABEL_GC_ROOT]: "x" } });
    const stats = await t.db.gc();
    expect(stats.removedBackendSnapshots).toBe(1);
    expect(await backendKeys()).toEqual(["ns/2/a"]);
    expect(await t.backendDirs()).toHaveLength(1);
  });

  it("adds what it creates to the lease, by option or withLease", async () => {
    const leases = t.db.leases("ns");
    await leases.create({ id: "l1" });
    await leases.create({ id: "l2" });
    const sn = t.db.snapshotter("ns", "native", { lease: "l1" });
    await sn.prepare("a", "");
    await sn.view("v", "");
    expect(await leases.listResources({ id: "l1" })).toEqual([
      { id: "a", type: "snapshots/native" },
      { id: "v", type: "snapshots/native" },
    ]);
    await sn.commit("c", "a");
    expect(await leases.listResources({ id: "l1" })).toEqual([
      { id: "c", type: "snapshots/native" },
      { id: "v", type: "snapshots/native" },
    ]);
    await withLease("l2", () => t.db.snapshotter("ns", "native").prepare("b", "c"));
    expect(await leases.listResources({ id: "l2" })).toEqual([
      { id: "b", type: "snapshots/native" },
    ]);
    await t.db.snapshotter("ns", "native").remove("v");
    expect((await leases.listResources({ id: "l1" })).map((r) => r.id)).toEqual(["c"]);
  });

  it("answers AlreadyExists for an existing snapshot.ref target and leases it", async () => {
    const sn = t.db.snapshotter("ns", "native");
    await sn.prepare("t-a", "");
    await sn.commit("chain-1", "t-a");
    await t.db.leases("ns").create({ id: "pull" });
    const pull = t.db.snapshotter("ns", "native", { lease: "pull" });
    const err = await rejection(
      pull.prepare("extract-1", "", { labels: { [LABEL_SNAPSHOT_REF]: "chain-1" } }),
    );
    expect(isAlreadyExists(err)).toBe(true);
    expect(String(err)).toContain("target");
    expect(isNotFound(await rejection(sn.stat("extract-1")))).toBe(true);
    expect(await t.db.leases("ns").listResources({ id: "pull" })).toEqual([
      { id: "chain-1", type: "snapshots/native" },
    ]);
    // A target that does not exist yet is an ordinary prepare.
    await pull.prepare("extract-2", "", { labels: { [LABEL_SNAPSHOT_REF]: "chain-2" } });
    expect((await sn.stat("extract-2")).kind).toBe("active");
  });

  it("records a remote snapshotter's existing snapshot under the target", async () => {
    // A remote snapshotter answers AlreadyExists when it already has the
    // layer: the backend here does, for any key, once "chain-r" exists.
    const sn = t.db.snapshotter("ns", "native");
    await t.backend.prepare("remote-a", "");
    await t.backend.commit("remote-1", "remote-a", { labels: { [LABEL_SNAPSHOT_REF]: "chain-r" } });
    const prepare = t.backend.prepare.bind(t.backend);
    t.backend.prepare = async (key, parent, options) => {
      if (options?.labels?.[LABEL_SNAPSHOT_REF] === "chain-r") {
        throw new AlreadyExistsError(`snapshot ${JSON.stringify(key)}: target exists`);
      }
      return prepare(key, parent, options);
    };
    await t.db.leases("ns").create({ id: "pull" });
    const pull = t.db.snapshotter("ns", "native", { lease: "pull" });
    const err = await rejection(
      pull.prepare("extract-r", "", { labels: { [LABEL_SNAPSHOT_REF]: "chain-r" } }),
    );
    expect(isAlreadyExists(err)).toBe(true);
    expect(await sn.stat("chain-r")).toMatchObject({ kind: "committed", name: "chain-r" });
    expect(await t.db.leases("ns").listResources({ id: "pull" })).toEqual([
      { id: "chain-r", type: "snapshots/native" },
    ]);
    // The backend snapshot is now in use: GC keeps it while the lease holds it.
    expect((await t.db.gc()).removedBackendSnapshots).toBe(0);
  });

  it("closes idempotently and refuses use afterwards", async () => {
    const sn = t.db.snapshotter("ns", "native");
    await sn.close();
    await sn.close();
    expect(isFailedPrecondition(await rejection(sn.stat("a")))).toBe(true);
    // The backend stays open for others.
    await t.db.snapshotter("ns", "native").prepare("a", "");
  });
});
