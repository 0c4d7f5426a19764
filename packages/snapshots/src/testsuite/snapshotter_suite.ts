import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  isAlreadyExists,
  isFailedPrecondition,
  isInvalidArgument,
  isNotFound,
} from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { withMounts } from "../mount.ts";
import type { SnapshotInfo, Snapshotter } from "../snapshotter.ts";
import {
  type Applier,
  apply,
  chown,
  compareTrees,
  createDir,
  createFile,
  link,
  removeAll,
  rename,
} from "./fstest.ts";

/** What {@link snapshotterSuite} needs from an implementation. */
export interface SnapshotterSuiteOptions {
  /**
   * Opens a fresh snapshotter whose storage lives under `root` (an empty
   * directory the suite creates and deletes). Called once per test; the
   * suite closes what it returns.
   */
  open(root: string): Promise<Snapshotter>;
}

const GC_ROOT = "containerd.io/gc.root";
const opt = { labels: { [GC_ROOT]: new Date().toISOString() } };

type Guard = (err: unknown) => boolean;

async function expectCode(promise: Promise<unknown>, guard: Guard, code: string): Promise<unknown> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a ${code} error`).toBeDefined();
  expect(guard(caught), `expected ${code}, got ${String(caught)}`).toBe(true);
  return caught;
}

/** Mounts the snapshot `key` (active or view) and applies `a` to it. */
async function applyTo(sn: Snapshotter, key: string, a: Applier): Promise<void> {
  await withMounts(await sn.mounts(key), a);
}

/** Prepares on `parent`, applies `a`, commits; returns the committed name. */
async function createSnapshot(sn: Snapshotter, parent: string, a: Applier): Promise<string> {
  const name = `layer-${randomBytes(6).toString("hex")}`;
  const prepare = `${name}-prepare`;
  await withMounts(await sn.prepare(prepare, parent, opt), a);
  await sn.commit(name, prepare, opt);
  return name;
}

/** Views `name`, compares the mounted view with `flat`, removes the view. */
async function checkSnapshot(
  sn: Snapshotter,
  name: string,
  flat: string,
  options: { mtimes?: boolean } = {},
): Promise<void> {
  const view = `${name}-view`;
  const mounts = await sn.view(view, name, opt);
  try {
    const diffs = await withMounts(mounts, (dir) => compareTrees(flat, dir, options));
    expect(diffs, `view of ${name} differs from the flat directory`).toEqual([]);
  } finally {
    await sn.remove(view);
  }
}

/**
 * Builds a chain of committed snapshots, one per applier, and checks after
 * each that a view of it equals the appliers so far applied to one flat
 * directory (containerd's `checkSnapshots`).
 */
async function checkSnapshots(
  sn: Snapshotter,
  work: string,
  appliers: Applier[],
  options: { mtimes?: boolean } = {},
): Promise<string[]> {
  const flat = await mkdtemp(join(work, "flat-"));
  const names: string[] = [];
  let parent = "";
  for (const a of appliers) {
    parent = await createSnapshot(sn, parent, a);
    await a(flat);
    await checkSnapshot(sn, parent, flat, options);
    names.push(parent);
  }
  return names;
}

/** c1 ← c2 committed; a1 on c2, a2 alone (active); v1 on c2, v2 alone (views). */
async function baseTestSnapshots(sn: Snapshotter): Promise<void> {
  await sn.prepare("c1-a", "", opt);
  await sn.commit("c1", "c1-a", opt);
  await sn.prepare("c2-a", "c1", opt);
  await sn.commit("c2", "c2-a", opt);
  await sn.prepare("a1", "c2", opt);
  await sn.prepare("a2", "", opt);
  await sn.view("v1", "c2", opt);
  await sn.view("v2", "", opt);
}

async function walkNames(sn: Snapshotter, filters?: string[]): Promise<string[]> {
  const names: string[] = [];
  await sn.walk(
    (info) => {
      names.push(info.name);
    },
    filters === undefined ? {} : { filters },
  );
  return names.sort();
}

/**
 * Registers the snapshotter conformance tests (what containerd's
 * `snapshots/testsuite` checks, plus its error table) under
 * `describe(name)`. The tests mount snapshots, so they need root.
 *
 * @example
 * ```ts
 * snapshotterSuite("overlayfs", { open: (root) => OverlaySnapshotter.open(root) });
 * ```
 */
export function snapshotterSuite(name: string, options: SnapshotterSuiteOptions): void {
  const test = (
    title: string,
    fn: (sn: Snapshotter, work: string) => Promise<void>,
    timeout?: number,
  ): void => {
    it(
      title,
      async () => {
        const tmp = await mkdtemp(join(tmpdir(), `snapshot-suite-${name.replace(/\W+/g, "_")}-`));
        const root = join(tmp, "root");
        const work = join(tmp, "work");
        await mkdir(root);
        await mkdir(work);
        const sn = await options.open(root);
        try {
          await fn(sn, work);
        } finally {
          await sn.close();
          await rm(tmp, { recursive: true, force: true });
        }
      },
      timeout,
    );
  };

  describe(name, () => {
    test("Basic: prepare, commit, child, walk, view, remove", async (sn, work) => {
      const initial = apply(
        createFile("/foo", "foo\n", 0o777),
        createDir("/a", 0o755),
        createDir("/a/b", 0o755),
        createDir("/a/b/c", 0o755),
      );
      const diff = apply(
        createFile("/bar", "bar\n", 0o777),
        createFile("/foo", "bar\n", 0o777),
        removeAll("/a/b"),
      );
      const preparing = join(work, "preparing");
      const mounts = await sn.prepare(preparing, "", opt);
      expect(mounts.length).toBeGreaterThanOrEqual(1);
      await withMounts(mounts, initial);

      const committed = join(work, "committed");
      await sn.commit(committed, preparing, opt);
      const si = await sn.stat(committed);
      expect(si.parent).toBe("");
      expect(si.kind).toBe("committed");
      await expectCode(sn.stat(preparing), isNotFound, "NotFound");

      const next = join(work, "nextlayer");
      const flat1 = await mkdtemp(join(work, "flat-"));
      await initial(flat1);
      await withMounts(await sn.prepare(next, committed, opt), async (dir) => {
        expect(await compareTrees(flat1, dir)).toEqual([]);
        await diff(dir);
      });
      const ni = await sn.stat(next);
      expect(ni.parent).toBe(committed);
      expect(ni.kind).toBe("active");

      const nextCommitted = join(work, "committed-next");
      await sn.commit(nextCommitted, next, opt);
      const si2 = await sn.stat(nextCommitted);
      expect(si2.parent).toBe(committed);
      expect(si2.kind).toBe("committed");
      await expectCode(sn.stat(next), isNotFound, "NotFound");

      const walked = new Map<string, SnapshotInfo>();
      await sn.walk((info) => {
        walked.set(info.name, info);
      });
      expect(walked.get(committed)).toEqual(si);
      expect(walked.get(nextCommitted)).toEqual(si2);

      const nextnext = join(work, "nextnextlayer");
      const flat2 = await mkdtemp(join(work, "flat-"));
      await apply(initial, diff)(flat2);
      await withMounts(await sn.view(nextnext, nextCommitted, opt), async (dir) => {
        expect(await compareTrees(flat2, dir)).toEqual([]);
      });
      await sn.remove(nextnext);
      const err = await expectCode(
        sn.remove(committed),
        isFailedPrecondition,
        "FailedPrecondition",
      );
      expect(String(err)).toContain("remove");
      await sn.remove(nextCommitted);
      await sn.remove(committed);
      expect(await walkNames(sn)).toEqual([]);
    });

    test("StatActive: a prepared key is active without parent", async (sn, work) => {
      const preparing = join(work, "preparing");
      const mounts = await sn.prepare(preparing, "", opt);
      expect(mounts.length).toBeGreaterThanOrEqual(1);
      await withMounts(mounts, createFile("/foo", "foo\n", 0o777));
      const si = await sn.stat(preparing);
      expect(si).toMatchObject({ name: preparing, kind: "active", parent: "", labels: opt.labels });
    });

    test("StatCommitted: a committed name is committed without parent", async (sn, work) => {
      const preparing = join(work, "preparing");
      await withMounts(await sn.prepare(preparing, "", opt), createFile("/foo", "foo\n", 0o777));
      const committed = join(work, "committed");
      await sn.commit(committed, preparing, opt);
      expect(await sn.stat(committed)).toMatchObject({
        name: committed,
        kind: "committed",
        parent: "",
      });
    });

    test("Transitivity: the parent of a child is the committed name", async (sn, work) => {
      const preparing = join(work, "preparing");
      await withMounts(await sn.prepare(preparing, "", opt), createFile("/foo", "foo\n", 0o777));
      const snapA = join(work, "snapA");
      await sn.commit(snapA, preparing, opt);
      const next = join(work, "next");
      await withMounts(await sn.prepare(next, snapA, opt), createFile("/foo", "foo bar\n", 0o777));
      const snapB = join(work, "snapB");
      await sn.commit(snapB, next, opt);
      const siA = await sn.stat(snapA);
      const siB = await sn.stat(snapB);
      const siParentB = await sn.stat(siB.parent);
      expect(siA.parent).toBe("");
      expect(siB.parent).toBe(snapA);
      expect(siParentB.parent).toBe("");
    });

    test("PrepareViewFailing: a key is taken by prepare or view once", async (sn, work) => {
      const preparing = join(work, "preparing");
      await sn.prepare(preparing, "", opt);
      const snapA = join(work, "snapA");
      await sn.commit(snapA, preparing, opt);

      const newLayer = join(work, "newlayer");
      await sn.prepare(newLayer, snapA, opt);
      await expectCode(sn.view(newLayer, snapA, opt), isAlreadyExists, "AlreadyExists");

      const prepLayer = join(work, "prepLayer");
      await sn.prepare(prepLayer, snapA, opt);
      await expectCode(sn.prepare(prepLayer, snapA, opt), isAlreadyExists, "AlreadyExists");

      const viewLayer = join(work, "viewLayer");
      await sn.view(viewLayer, snapA, opt);
      await expectCode(sn.view(viewLayer, snapA, opt), isAlreadyExists, "AlreadyExists");
      await expectCode(sn.prepare(viewLayer, "", opt), isAlreadyExists, "AlreadyExists");
      await expectCode(sn.prepare(snapA, "", opt), isAlreadyExists, "AlreadyExists");
    });

    test("Update: labels by fieldpath, times, immutable fields", async (sn) => {
      const t1 = Date.now();
      await baseTestSnapshots(sn);
      const t2 = Date.now();
      const cases: [string, SnapshotInfo["kind"], string][] = [
        ["c1", "committed", ""],
        ["c2", "committed", "c1"],
        ["a1", "active", "c2"],
        ["a2", "active", ""],
        ["v1", "view", "c2"],
        ["v2", "view", ""],
      ];
      for (const [key, kind, parent] of cases) {
        const st = await sn.stat(key);
        expect(st.created.getTime(), key).toBeGreaterThanOrEqual(t1);
        expect(st.created.getTime(), key).toBeLessThanOrEqual(t2);
        expect(st.updated, key).toEqual(st.created);
        expect(st, key).toMatchObject({ kind, parent, name: key });

        const rootTime = new Date().toISOString();
        let expected: Record<string, string> = {
          l1: "v1",
          l2: "v2",
          l3: "v3",
          [GC_ROOT]: rootTime,
        };
        const u1 = Date.now();
        // No fieldpaths: labels replaced, a changed parent ignored.
        const changed: SnapshotInfo = { ...st, parent: "doesnotexist", labels: expected };
        let got = await sn.update(changed);
        const u2 = Date.now();
        expect(got.created, key).toEqual(st.created);
        expect(got.updated.getTime(), key).toBeGreaterThanOrEqual(u1);
        // An implementation may bump updated by 1 ms to keep it increasing.
        expect(got.updated.getTime(), key).toBeLessThanOrEqual(u2 + 1);
        expect(got, key).toMatchObject({ kind, parent, name: key, labels: expected });
        expect(await sn.stat(key)).toEqual(got);

        expected = { l1: "updated", l3: "v3", [GC_ROOT]: rootTime };
        got = await sn.update(
          { name: key, labels: { l1: "updated", l4: "v4" } },
          { fieldpaths: ["labels.l1", "labels.l2"] },
        );
        expect(got.labels, key).toEqual(expected);

        expected = { l4: "v4", [GC_ROOT]: rootTime };
        got = await sn.update({ name: key, labels: expected }, { fieldpaths: ["labels"] });
        expect(got.labels, key).toEqual(expected);

        await expectCode(
          sn.update({ ...got, parent: "doesnotexist" } as SnapshotInfo, { fieldpaths: ["parent"] }),
          isInvalidArgument,
          "InvalidArgument",
        );
        expect((await sn.stat(key)).labels).toEqual(expected);
      }
    });

    test("Remove: keys and names can be used again after remove", async (sn) => {
      await sn.prepare("committed-a", "", opt);
      await sn.commit("committed-1", "committed-a", opt);
      await sn.prepare("reuse-1", "committed-1", opt);
      await sn.remove("reuse-1");
      await sn.view("reuse-1", "committed-1", opt);
      await sn.remove("reuse-1");
      await sn.prepare("reuse-1", "", opt);
      await sn.remove("committed-1");
      await sn.commit("committed-1", "reuse-1", opt);
      expect(await walkNames(sn)).toEqual(["committed-1"]);
      await expectCode(sn.remove("reuse-1"), isNotFound, "NotFound");
    });

    test("Walk: name, parent, kind and label filters", async (sn) => {
      const walkOpt = { labels: { [GC_ROOT]: "check-walk" } };
      const withL = (l: string) => ({ labels: { l, [GC_ROOT]: "check-walk" } });
      await sn.prepare("a-np", "", walkOpt);
      await sn.prepare("p-tmp", "", walkOpt);
      await sn.commit("p", "p-tmp", walkOpt);
      await sn.prepare("a", "p", walkOpt);
      await sn.view("v", "p", walkOpt);
      await sn.prepare("p-wl-tmp", "", walkOpt);
      await sn.commit("p-wl", "p-wl-tmp", withL("1"));
      await sn.prepare("a-wl", "p-wl", withL("2"));
      await sn.view("v-wl", "p-wl", withL("3"));
      await sn.prepare("a-np-wl", "", withL("2"));
      const gc = `labels."${GC_ROOT}"==check-walk`;
      const cases: [string[], string[]][] = [
        [[gc], ["a-np", "p", "a", "v", "p-wl", "a-wl", "v-wl", "a-np-wl"]],
        [[`kind==active,${gc}`], ["a-np", "a", "a-wl", "a-np-wl"]],
        [[`kind==view,${gc}`], ["v", "v-wl"]],
        [[`kind==committed,${gc}`], ["p", "p-wl"]],
        [
          ["name==p", "name==a-np-wl"],
          ["p", "a-np-wl"],
        ],
        [["name==a-wl,labels.l"], ["a-wl"]],
        [["parent==p"], ["a", "v"]],
        [[`parent!="",${gc}`], ["a", "v", "a-wl", "v-wl"]],
        [["labels.l"], ["p-wl", "a-wl", "v-wl", "a-np-wl"]],
        [["labels.l==2"], ["a-wl", "a-np-wl"]],
      ];
      for (const [filters, matches] of cases) {
        expect(await walkNames(sn, filters), filters.join(" | ")).toEqual([...matches].sort());
      }
    });

    test("LayerFileUpdate: content and mode changes within and across seconds", async (sn, work) => {
      // containerd runs this 5 times, sleeping to the next second between
      // runs; explicit times give the same cases without waiting: the
      // update in the same second as the original, the next second, and
      // on a second boundary.
      const base = Math.floor(Date.now() / 1000) * 1000;
      const cases: [number, number][] = [
        [base + 100, base + 100],
        [base + 100, base + 900],
        [base + 999, base + 1000],
        [base + 500, base + 1500],
        [base, base],
      ];
      for (const [t1, t2] of cases) {
        const m1 = { mtime: new Date(t1) };
        const m2 = { mtime: new Date(t2) };
        const l1 = apply(
          createDir("/etc", 0o700),
          createFile("/etc/hosts", "mydomain 10.0.0.1", 0o644, m1),
          createFile("/etc/profile", "PATH=/usr/bin", 0o644, m1),
        );
        const l2 = apply(
          createFile("/etc/hosts", "mydomain 10.0.0.2", 0o644, m2),
          createFile("/etc/profile", "PATH=/usr/bin", 0o666, m2),
          createDir("/root", 0o700),
          createFile("/root/.bashrc", "PATH=/usr/sbin:/usr/bin", 0o644, m2),
        );
        await checkSnapshots(sn, work, [l1, l2], { mtimes: true });
      }
    });

    test("RemoveDirectoryInLowerLayer: a recreated directory hides the old content", async (sn, work) => {
      await checkSnapshots(sn, work, [
        apply(createDir("/lib", 0o700), createFile("/lib/hidden", "", 0o644)),
        apply(
          removeAll("/lib"),
          createDir("/lib", 0o700),
          createFile("/lib/not-hidden", "", 0o644),
        ),
        createFile("/lib/newfile", "", 0o644),
      ]);
    });

    test("Chown: owners changed in an upper layer", async (sn, work) => {
      await checkSnapshots(sn, work, [
        apply(
          createDir("/opt", 0o700),
          createDir("/opt/a", 0o700),
          createDir("/opt/a/b", 0o700),
          createFile("/opt/a/b/file.txt", "hello", 0o644),
        ),
        apply(
          chown("/opt", 1, 1),
          chown("/opt/a", 1, 1),
          chown("/opt/a/b", 1, 1),
          chown("/opt/a/b/file.txt", 1, 1),
        ),
      ]);
    });

    test("DirectoryPermissionOnCommit: owners survive chown, remove and recreate", async (sn, work) => {
      await checkSnapshots(sn, work, [
        apply(
          createDir("/dir1", 0o700),
          createDir("/dir2", 0o700),
          createDir("/dir3", 0o700),
          createDir("/dir4", 0o700),
          createFile("/dir4/f1", "...", 0o644),
          createDir("/dir5", 0o700),
          createFile("/dir5/f1", "...", 0o644),
          chown("/dir1", 1, 1),
          chown("/dir2", 1, 1),
          chown("/dir3", 1, 1),
          chown("/dir5", 1, 1),
          chown("/dir5/f1", 1, 1),
        ),
        apply(
          chown("/dir2", 0, 0),
          removeAll("/dir3"),
          chown("/dir4", 1, 1),
          chown("/dir4/f1", 1, 1),
        ),
        apply(
          createDir("/dir3", 0o700),
          chown("/dir3", 1, 1),
          removeAll("/dir5"),
          createDir("/dir5", 0o700),
          chown("/dir5", 1, 1),
        ),
      ]);
    });

    test("RemoveIntermediateSnapshot: a parent goes only after its children", async (sn, work) => {
      const base = join(work, "base");
      await withMounts(await sn.prepare(base, "", opt), createFile("/f", "x", 0o644));
      const committedBase = join(work, "committed-base");
      await sn.commit(committedBase, base, opt);
      const intermediate = join(work, "intermediate");
      await sn.prepare(intermediate, committedBase, opt);
      const committedInter = join(work, "committed-inter");
      await sn.commit(committedInter, intermediate, opt);
      const top = join(work, "toplayer");
      await sn.prepare(top, committedInter, opt);
      await expectCode(sn.remove(committedInter), isFailedPrecondition, "FailedPrecondition");
      await expectCode(sn.remove(committedBase), isFailedPrecondition, "FailedPrecondition");
      await sn.remove(top);
      await sn.remove(committedInter);
      await sn.remove(committedBase);
      expect(await walkNames(sn)).toEqual([]);
    });

    test("DeletedFilesInChildSnapshot: a deleted file stays deleted above", async (sn, work) => {
      await checkSnapshots(sn, work, [
        apply(createFile("/foo", "foo\n", 0o777), createFile("/foobar", "foobar\n", 0o777)),
        removeAll("/foobar"),
        apply(),
      ]);
    });

    test("MoveFileFromLowerLayer: hard link a lower file elsewhere, remove the original", async (sn, work) => {
      await checkSnapshots(sn, work, [
        apply(
          createDir("/dir1", 0o700),
          createFile("/dir1/f1", "Hello", 0o644),
          createDir("dir2", 0o700),
          createFile("dir2/f2", "...", 0o644),
        ),
        apply(
          createDir("/dir3", 0o700),
          createFile("/dir3/f1", "Hello", 0o644),
          removeAll("/dir1"),
          link("dir2/f2", "dir3/f2"),
          removeAll("dir2/f2"),
        ),
      ]);
    });

    test("Hardlinks: links made in one layer stay one inode above it", async (sn, work) => {
      // Not linking to a lower file again: overlayfs with index=off (as
      // containerd mounts it) breaks such links on copy-up.
      await checkSnapshots(sn, work, [
        apply(createFile("/a", "shared", 0o644), createDir("/d", 0o755), link("/a", "/d/b")),
        apply(createFile("/other", "x", 0o600), link("/other", "/d/other")),
        createFile("/top", "y", 0o644),
      ]);
    });

    test("Rename: file rename and rename over a file", async (sn, work) => {
      // containerd also renames a directory, which overlayfs without
      // redirect_dir refuses (EXDEV); that case is left out, as there.
      await checkSnapshots(sn, work, [
        apply(
          createDir("/dir1", 0o700),
          createDir("/somefiles", 0o700),
          createFile("/somefiles/f1", "was here first!", 0o644),
          createFile("/somefiles/f2", "nothing interesting", 0o644),
        ),
        apply(
          createFile("/somefiles/f1-overwrite", "new content 1", 0o644),
          rename("/somefiles/f1-overwrite", "/somefiles/f1"),
          rename("/somefiles/f2", "/somefiles/f3"),
        ),
      ]);
    });

    test("ViewReadonly: writing into a mounted view fails with EROFS", async (sn, work) => {
      const preparing = join(work, "preparing");
      await withMounts(await sn.prepare(preparing, "", opt), createFile("/f", "1", 0o644));
      const committed = join(work, "committed");
      await sn.commit(committed, preparing, opt);
      await withMounts(await sn.prepare("second", committed, opt), createFile("/g", "2", 0o644));
      await sn.commit("second-c", "second", opt);
      // One parent, two parents, none.
      for (const [view, parent] of [
        ["view", committed],
        ["view-2", "second-c"],
        ["view-empty", ""],
      ] as const) {
        await withMounts(await sn.view(view, parent, opt), async (dir) => {
          await expect(writeFile(join(dir, "testfile"), "testcontent")).rejects.toMatchObject({
            code: "EROFS",
          });
        });
        await sn.remove(view);
      }
      await sn.remove("second-c");
      await sn.remove(committed);
    });

    test("StatInWalk: stat inside a walk callback equals the walked info", async (sn) => {
      const prefix = "stats-in-walk-";
      await sn.prepare(`${prefix}c1-a`, "", opt);
      await applyTo(sn, `${prefix}c1-a`, createFile("/base", "base", 0o644));
      await sn.commit(`${prefix}c1`, `${prefix}c1-a`, opt);
      await sn.prepare(`${prefix}c2-a`, `${prefix}c1`, opt);
      await sn.commit(`${prefix}c2`, `${prefix}c2-a`, opt);
      await sn.prepare(`${prefix}a1`, `${prefix}c2`, opt);
      await sn.view(`${prefix}v1`, `${prefix}c2`, opt);
      let seen = 0;
      await sn.walk(async (info) => {
        if (!info.name.startsWith(prefix)) return;
        expect(await sn.stat(info.name)).toEqual(info);
        seen++;
      });
      expect(seen).toBe(4);
    });

    test("CloseTwice: close is idempotent", async (sn) => {
      await sn.prepare("close-prepare", "", opt);
      await sn.commit("close", "close-prepare", opt);
      await sn.remove("close");
      await sn.close();
      await sn.close();
    });

    test("RootPermission: the root of a new active snapshot is 0755", async (sn) => {
      await withMounts(await sn.prepare("preparing", "", opt), async (dir) => {
        expect(((await stat(dir)).mode & 0o777).toString(8)).toBe("755");
      });
    });

    test(
      "128LayersMount: every layer of a 128-layer chain equals a flat directory",
      async (sn, work) => {
        const appliers: Applier[] = [
          apply(
            createFile("/bottom", "way at the bottom\n", 0o777),
            createFile("/overwriteme", "FIRST!\n", 0o777),
            createDir("/ADDHERE", 0o755),
            createDir("/ONLYME", 0o755),
            createFile("/ONLYME/bottom", "bye!\n", 0o777),
          ),
        ];
        for (let i = 1; i <= 127; i++) {
          appliers.push(
            apply(
              createFile("/overwriteme", `${i} WAS HERE!\n`, 0o777),
              createFile(`/ADDHERE/file-${i}`, "same\n", 0o755),
              removeAll("/ONLYME"),
              createDir("/ONLYME", 0o755),
              createFile(`/ONLYME/file-${i}`, "only me!\n", 0o777),
            ),
          );
        }
        const flat = await mkdtemp(join(work, "flat-"));
        let parent = "";
        for (const [i, a] of appliers.entries()) {
          const preparing = join(work, `prepare-layer-${i}`);
          await withMounts(await sn.prepare(preparing, parent, opt), async (dir) => {
            expect(await compareTrees(flat, dir), `layer ${i} before apply`).toEqual([]);
            await a(flat);
            await a(dir);
            expect(await compareTrees(flat, dir), `layer ${i} after apply`).toEqual([]);
          });
          parent = join(work, `committed-${i}`);
          await sn.commit(parent, preparing, opt);
        }
        await withMounts(await sn.view(join(work, "fullview"), parent, opt), async (dir) => {
          expect(await compareTrees(flat, dir)).toEqual([]);
        });
      },
      60_000,
    );

    test("Usage: an active snapshot grows with its files; commit keeps the figure", async (sn) => {
      await sn.prepare("u", "", opt);
      const empty = await sn.usage("u");
      expect(empty.inodes).toBeGreaterThanOrEqual(1);
      await applyTo(
        sn,
        "u",
        apply(createFile("/big", randomBytes(256 * 1024), 0o644), createFile("/small", "x", 0o644)),
      );
      const full = await sn.usage("u");
      expect(full.size - empty.size).toBeGreaterThanOrEqual(256 * 1024);
      expect(full.inodes).toBe(empty.inodes + 2);
      await sn.commit("u-c", "u", opt);
      expect(await sn.usage("u-c")).toEqual(full);
    });

    describe("errors", () => {
      test("unknown keys are NotFound", async (sn) => {
        await expectCode(sn.stat("nope"), isNotFound, "NotFound");
        await expectCode(sn.mounts("nope"), isNotFound, "NotFound");
        await expectCode(sn.usage("nope"), isNotFound, "NotFound");
        await expectCode(sn.remove("nope"), isNotFound, "NotFound");
        await expectCode(sn.update({ name: "nope", labels: {} }), isNotFound, "NotFound");
        await expectCode(sn.commit("c", "nope", opt), isNotFound, "NotFound");
      });

      test("a missing parent is NotFound and nothing is recorded", async (sn) => {
        await expectCode(sn.prepare("a", "missing", opt), isNotFound, "NotFound");
        await expectCode(sn.view("v", "missing", opt), isNotFound, "NotFound");
        expect(await walkNames(sn)).toEqual([]);
      });

      test("an existing key or name is AlreadyExists", async (sn) => {
        await sn.prepare("a", "", opt);
        await sn.prepare("b", "", opt);
        await sn.commit("c", "b", opt);
        await sn.view("v", "c", opt);
        for (const key of ["a", "c", "v"]) {
          await expectCode(sn.prepare(key, "", opt), isAlreadyExists, "AlreadyExists");
          await expectCode(sn.view(key, "c", opt), isAlreadyExists, "AlreadyExists");
        }
        await sn.prepare("d", "", opt);
        for (const name of ["a", "c", "v"]) {
          await expectCode(sn.commit(name, "d", opt), isAlreadyExists, "AlreadyExists");
        }
        expect((await sn.stat("d")).kind).toBe("active");
      });

      test("a parent that is not committed is InvalidArgument", async (sn) => {
        await sn.prepare("active", "", opt);
        await sn.view("view", "", opt);
        for (const parent of ["active", "view"]) {
          await expectCode(sn.prepare("x", parent, opt), isInvalidArgument, "InvalidArgument");
          await expectCode(sn.view("y", parent, opt), isInvalidArgument, "InvalidArgument");
        }
        expect(await walkNames(sn)).toEqual(["active", "view"]);
      });

      test("commit of a view or a committed snapshot is FailedPrecondition", async (sn) => {
        await sn.view("v", "", opt);
        await sn.prepare("a", "", opt);
        await sn.commit("c", "a", opt);
        await expectCode(sn.commit("x", "v", opt), isFailedPrecondition, "FailedPrecondition");
        await expectCode(sn.commit("y", "c", opt), isFailedPrecondition, "FailedPrecondition");
        expect(await walkNames(sn)).toEqual(["c", "v"]);
      });

      test("mounts of a committed snapshot is FailedPrecondition", async (sn) => {
        await sn.prepare("a", "", opt);
        expect((await sn.mounts("a")).length).toBeGreaterThanOrEqual(1);
        await sn.commit("c", "a", opt);
        await expectCode(sn.mounts("c"), isFailedPrecondition, "FailedPrecondition");
      });

      test("remove of a snapshot with an active or view child is FailedPrecondition", async (sn) => {
        await sn.prepare("a", "", opt);
        await sn.commit("c", "a", opt);
        await sn.view("v", "c", opt);
        const err = await expectCode(sn.remove("c"), isFailedPrecondition, "FailedPrecondition");
        expect(String(err)).toContain("remove");
        await sn.remove("v");
        await sn.prepare("child", "c", opt);
        await expectCode(sn.remove("c"), isFailedPrecondition, "FailedPrecondition");
        await sn.remove("child");
        await sn.remove("c");
      });

      test("update of another field or an empty name is InvalidArgument", async (sn) => {
        await sn.prepare("a", "", { labels: { keep: "1" } });
        const info = await sn.stat("a");
        for (const fp of ["parent", "kind", "name", "created", "labels."]) {
          await expectCode(
            sn.update(info, { fieldpaths: [fp] }),
            isInvalidArgument,
            `InvalidArgument for ${fp}`,
          );
        }
        await expectCode(sn.update({ name: "", labels: {} }), isInvalidArgument, "InvalidArgument");
        expect((await sn.stat("a")).labels).toEqual({ keep: "1" });
      });

      test("a label over 4096 bytes is InvalidArgument", async (sn) => {
        const big = { labels: { k: "v".repeat(4096) } };
        await expectCode(sn.prepare("a", "", big), isInvalidArgument, "InvalidArgument");
        await expectCode(sn.view("v", "", big), isInvalidArgument, "InvalidArgument");
        await sn.prepare("b", "", opt);
        await expectCode(sn.commit("c", "b", big), isInvalidArgument, "InvalidArgument");
        await expectCode(sn.update({ name: "b", ...big }), isInvalidArgument, "InvalidArgument");
        expect(await walkNames(sn)).toEqual(["b"]);
        expect((await sn.stat("b")).labels).toEqual(opt.labels);
      });

      test("an aborted signal rejects and records nothing", async (sn) => {
        const signal = AbortSignal.abort(new Error("stop"));
        await expect(sn.prepare("a", "", { signal })).rejects.toThrow("stop");
        await expect(sn.view("v", "", { signal })).rejects.toThrow("stop");
        expect(await walkNames(sn)).toEqual([]);
      });
    });
  });
}
