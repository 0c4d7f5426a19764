import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
} from "@strata/errdefs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MetaStore } from "./_metastore.ts";

let dir: string;
let path: string;
let store: MetaStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-metastore-"));
  path = join(dir, "metadata.db");
  store = MetaStore.open(path);
});
afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error");
}

const USAGE = { size: 4096, inodes: 2 };

/** base (committed) ← mid (committed) ← top (active). */
function chain(): void {
  store.create("active", "base-a", "", {});
  store.commit("base", "base-a", {}, USAGE);
  store.create("active", "mid-a", "base", {});
  store.commit("mid", "mid-a", {}, USAGE);
  store.create("active", "top", "mid", {});
}

describe("MetaStore.open", () => {
  it("creates the schema at version 1 and keeps records across reopening", () => {
    store.create("active", "a", "", { l: "1" });
    store.close();
    const db = new DatabaseSync(path);
    expect(db.prepare("PRAGMA user_version").get()).toEqual({ user_version: 1 });
    expect(db.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    db.close();
    store = MetaStore.open(path);
    expect(store.info("a").labels).toEqual({ l: "1" });
  });

  it("refuses a database whose schema is newer than it knows", () => {
    store.close();
    const db = new DatabaseSync(path);
    db.exec("PRAGMA user_version = 7");
    db.close();
    const err = caught(() => MetaStore.open(path));
    expect(isFailedPrecondition(err)).toBe(true);
    expect(String(err)).toMatch(/schema version 7/);
    store = MetaStore.open(join(dir, "other.db")); // for afterEach
  });
});

describe("MetaStore.create", () => {
  it("records a snapshot with id 1 first, no parents, created equal to updated", () => {
    const before = Date.now();
    const s = store.create("active", "a", "", { x: "y" });
    expect(s).toEqual({ id: 1, kind: "active", parentIDs: [] });
    const info = store.info("a");
    expect(info).toMatchObject({ kind: "active", name: "a", parent: "", labels: { x: "y" } });
    expect(info.created.getTime()).toBe(info.updated.getTime());
    expect(info.created.getTime()).toBeGreaterThanOrEqual(before);
    expect(info.created.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it("lists parent ids nearest first", () => {
    chain();
    expect(store.get("top")).toEqual({ id: 3, kind: "active", parentIDs: [2, 1] });
    expect(store.get("mid").parentIDs).toEqual([1]);
    const view = store.create("view", "v", "mid", {});
    expect(view).toEqual({ id: 4, kind: "view", parentIDs: [2, 1] });
    expect(store.info("v").parent).toBe("mid");
  });

  it("runs onCreate inside the transaction and rolls back when it throws", () => {
    let seen: number | undefined;
    store.create("view", "v", "", {}, (s) => {
      seen = s.id;
    });
    expect(seen).toBe(1);
    const err = caught(() =>
      store.create("active", "b", "", {}, () => {
        throw new Error("disk full");
      }),
    );
    expect(String(err)).toMatch(/disk full/);
    expect(isNotFound(caught(() => store.info("b")))).toBe(true);
  });

  it("rejects an existing key, active or committed", () => {
    chain();
    expect(isAlreadyExists(caught(() => store.create("active", "top", "", {})))).toBe(true);
    expect(isAlreadyExists(caught(() => store.create("view", "base", "", {})))).toBe(true);
  });

  it("rejects a missing parent with NotFound and an uncommitted one with InvalidArgument", () => {
    store.create("active", "a", "", {});
    store.create("view", "v", "", {});
    expect(isNotFound(caught(() => store.create("active", "b", "nope", {})))).toBe(true);
    expect(isInvalidArgument(caught(() => store.create("active", "b", "a", {})))).toBe(true);
    expect(isInvalidArgument(caught(() => store.create("view", "b", "v", {})))).toBe(true);
  });

  it("rejects an empty key and labels over 4096 bytes", () => {
    expect(isInvalidArgument(caught(() => store.create("active", "", "", {})))).toBe(true);
    const big = { l: "x".repeat(4096) };
    expect(isInvalidArgument(caught(() => store.create("active", "a", "", big)))).toBe(true);
    expect(store.list()).toEqual([]);
  });
});

describe("MetaStore.checkCreate", () => {
  it("returns the parent's snapshot without recording anything", () => {
    chain();
    expect(store.checkCreate("new", "mid", {})).toEqual({
      id: 2,
      kind: "committed",
      parentIDs: [1],
    });
    expect(store.checkCreate("new", "", {})).toBeUndefined();
    expect(isNotFound(caught(() => store.info("new")))).toBe(true);
  });

  it("throws what create would", () => {
    chain();
    expect(isAlreadyExists(caught(() => store.checkCreate("top", "", {})))).toBe(true);
    expect(isInvalidArgument(caught(() => store.checkCreate("x", "top", {})))).toBe(true);
    expect(isNotFound(caught(() => store.checkCreate("x", "gone", {})))).toBe(true);
    expect(isInvalidArgument(caught(() => store.checkCreate("", "", {})))).toBe(true);
  });
});

describe("MetaStore.commit", () => {
  it("keeps the id, replaces the labels, stores the usage and frees the key", () => {
    store.create("active", "a", "", { old: "1" });
    let hooked: number | undefined;
    const s = store.commit("c", "a", { new: "2" }, USAGE, (x) => {
      hooked = x.id;
    });
    expect(s).toEqual({ id: 1, kind: "committed", parentIDs: [] });
    expect(hooked).toBe(1);
    expect(store.info("c")).toMatchObject({ kind: "committed", name: "c", labels: { new: "2" } });
    expect(store.storedUsage("c")).toEqual(USAGE);
    expect(isNotFound(caught(() => store.info("a")))).toBe(true);
    // The freed key can be used again.
    expect(store.create("active", "a", "c", {}).parentIDs).toEqual([1]);
  });

  it("fails with the errdefs class of each bad case", () => {
    chain();
    store.create("view", "v", "", {});
    expect(isNotFound(caught(() => store.commit("x", "nope", {}, USAGE)))).toBe(true);
    expect(isFailedPrecondition(caught(() => store.commit("x", "v", {}, USAGE)))).toBe(true);
    expect(isFailedPrecondition(caught(() => store.commit("x", "mid", {}, USAGE)))).toBe(true);
    expect(isAlreadyExists(caught(() => store.commit("base", "top", {}, USAGE)))).toBe(true);
    expect(isInvalidArgument(caught(() => store.commit("", "top", {}, USAGE)))).toBe(true);
    expect(store.info("top").kind).toBe("active");
  });

  it("rolls back when onCommit throws", () => {
    store.create("active", "a", "", {});
    expect(() =>
      store.commit("c", "a", {}, USAGE, () => {
        throw new Error("boom");
      }),
    ).toThrow(/boom/);
    expect(store.info("a").kind).toBe("active");
    expect(store.storedUsage("a")).toBeUndefined();
  });
});

describe("MetaStore.remove", () => {
  it("refuses a snapshot with children, then removes top-down", () => {
    chain();
    const err = caught(() => store.remove("base"));
    expect(isFailedPrecondition(err)).toBe(true);
    expect(String(err)).toMatch(/cannot remove snapshot with child "mid"/);
    expect(store.remove("top")).toEqual({ id: 3, kind: "active", parentIDs: [2, 1] });
    store.remove("mid");
    store.remove("base");
    expect(store.list()).toEqual([]);
    expect(isNotFound(caught(() => store.remove("base")))).toBe(true);
  });

  it("never reuses an id, not even after reopening", () => {
    store.create("active", "a", "", {});
    store.create("active", "b", "", {});
    store.remove("b");
    expect(store.create("active", "c", "", {}).id).toBe(3);
    store.remove("c");
    store.remove("a");
    store.close();
    store = MetaStore.open(path);
    expect(store.create("active", "d", "", {}).id).toBe(4);
    expect(store.ids()).toEqual(new Set([4]));
  });

  it("keeps the record when onRemove throws", () => {
    store.create("active", "a", "", {});
    expect(() =>
      store.remove("a", () => {
        throw new Error("EBUSY");
      }),
    ).toThrow(/EBUSY/);
    expect(store.get("a").id).toBe(1);
  });
});

describe("MetaStore.update", () => {
  it("replaces labels without fieldpaths and bumps updated only", () => {
    store.create("active", "a", "", { a: "1", b: "2" });
    const before = store.info("a");
    const after = store.update("a", { c: "3" }, []);
    expect(after.labels).toEqual({ c: "3" });
    expect(after.created).toEqual(before.created);
    expect(after.updated.getTime()).toBeGreaterThan(before.updated.getTime());
    expect(after).toMatchObject({ kind: "active", name: "a", parent: "" });
    expect(store.info("a")).toEqual(after);
  });

  it("sets and deletes single labels with labels.<key>, replaces with labels", () => {
    store.create("view", "v", "", { l1: "a", l2: "b", l3: "c" });
    expect(store.update("v", { l1: "x" }, ["labels.l1", "labels.l2"]).labels).toEqual({
      l1: "x",
      l3: "c",
    });
    expect(store.update("v", { only: "1" }, ["labels"]).labels).toEqual({ only: "1" });
  });

  it("rejects other fieldpaths, an empty name, big labels and unknown names", () => {
    store.create("active", "a", "", { keep: "1" });
    expect(isInvalidArgument(caught(() => store.update("a", {}, ["parent"])))).toBe(true);
    expect(isInvalidArgument(caught(() => store.update("", {}, [])))).toBe(true);
    expect(isInvalidArgument(caught(() => store.update("a", { k: "v".repeat(5000) }, [])))).toBe(
      true,
    );
    expect(isNotFound(caught(() => store.update("nope", {}, [])))).toBe(true);
    expect(store.info("a").labels).toEqual({ keep: "1" });
  });
});

describe("MetaStore.list", () => {
  it("returns every record ordered by key", () => {
    chain();
    store.create("view", "a-view", "base", {});
    expect(store.list().map((i) => [i.name, i.kind, i.parent])).toEqual([
      ["a-view", "view", "base"],
      ["base", "committed", ""],
      ["mid", "committed", "base"],
      ["top", "active", "mid"],
    ]);
  });
});

describe("MetaStore.tx", () => {
  it("nests into the outer transaction and rolls everything back on error", () => {
    expect(() =>
      store.tx(() => {
        store.create("active", "a", "", {});
        store.create("active", "b", "", {});
        throw new Error("abort");
      }),
    ).toThrow(/abort/);
    expect(store.list()).toEqual([]);
  });
});
