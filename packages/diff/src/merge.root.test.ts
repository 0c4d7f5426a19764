// Needs root (chown, mknod, overlay mounts); fails, not skips, without it.
// Both snapshotters in one file, one after the other: run side by side they
// compete for the disk and take longer.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  createReadStream,
  createWriteStream,
  lchownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { isAlreadyExists, isInvalidArgument, isNotFound } from "@strata/errdefs";
import {
  LABEL_MERGE_USAGE_INODES,
  LABEL_MERGE_USAGE_SIZE,
  type Mount,
  NativeSnapshotter,
  OverlaySnapshotter,
  type Snapshotter,
  withMounts,
} from "@strata/snapshots";
import { mknod, removexattr, setxattr } from "@strata/sys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snapshotTree, type TreeRecord } from "./_testing.ts";
import { applyLayer } from "./apply.ts";
import { mergeCapabilities, mergeSnapshots } from "./merge.ts";
import { diffDirectories } from "./walking_differ.ts";

const FILES = 10_000;
const tmp = mkdtempSync(join(tmpdir(), "strata-merge-root-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }), 60_000);

const text = (s: string) => new TextEncoder().encode(s);
const DIRS = 50;
const aPath = (i: number) => `a/d${i % DIRS}/f${i}`;
const T0 = 1_000_000_000;

// Layer 1: the base tree, with every kind of entry a layer carries.
function write1(root: string): void {
  for (let d = 0; d < DIRS; d++) mkdirSync(join(root, `a/d${d}`), { recursive: true });
  for (let i = 0; i < FILES - 40; i++) {
    const p = join(root, aPath(i));
    writeFileSync(p, `layer 1 file ${i}\n`.repeat(i % 7));
    if (i % 97 === 0) chmodSync(p, 0o600);
    if (i % 101 === 0) lchownSync(p, 1000, 1001);
    if (i % 89 === 0) setxattr(p, "user.k", text(`v${i}`));
    if (i % 113 === 0) utimesSync(p, T0 + i, T0 + i);
  }
  writeFileSync(join(root, "big"), Buffer.alloc(300_000, 7));
  mkdirSync(join(root, "links"));
  for (let j = 0; j < 10; j++) symlinkSync(`../${aPath(j)}`, join(root, `links/s${j}`));
  symlinkSync("/etc/passwd", join(root, "links/abs"));
  mkdirSync(join(root, "hl"));
  writeFileSync(join(root, "hl/one"), "one");
  linkSync(join(root, "hl/one"), join(root, "hl/two"));
  linkSync(join(root, "hl/one"), join(root, "hl/three"));
  mkdirSync(join(root, "special"));
  mknod(join(root, "special/fifo"), { type: "fifo", mode: 0o644 });
  mknod(join(root, "special/null"), { type: "char", major: 1, minor: 3, mode: 0o666 });
  mkdirSync(join(root, "replace/dir2file"), { recursive: true });
  writeFileSync(join(root, "replace/dir2file/x"), "x");
  writeFileSync(join(root, "replace/file2dir"), "file");
  mkdirSync(join(root, "opq/sub"), { recursive: true });
  writeFileSync(join(root, "opq/old"), "old");
  writeFileSync(join(root, "opq/sub/old2"), "old2");
  mkdirSync(join(root, "del"));
  for (let j = 0; j < 10; j++) writeFileSync(join(root, `del/f${j}`), `${j}`);
  writeFileSync(join(root, "delfile"), "gone soon");
  mkdirSync(join(root, "xdir"), { mode: 0o750 });
  setxattr(join(root, "xdir"), "user.dir", text("1"));
  writeFileSync(join(root, "suid"), "#!/bin/sh\n");
  lchownSync(join(root, "suid"), 1000, 1000);
  chmodSync(join(root, "suid"), 0o4755);
}

// Layers 2 and 3: about FILES changes each over the layer below.
function writeOver(root: string, n: 2 | 3): void {
  const dir = n === 2 ? "b" : "c";
  for (let d = 0; d < DIRS; d++) mkdirSync(join(root, `${dir}/d${d}`), { recursive: true });
  for (let i = 0; i < FILES - 1000; i++) {
    writeFileSync(join(root, `${dir}/d${i % DIRS}/f${i}`), `layer ${n} new ${i}\n`);
  }
  const off = n === 2 ? 0 : 1;
  for (let k = 0; k < 500; k++) {
    writeFileSync(join(root, aPath(k * 19 + off)), `layer ${n} overwrite ${k}`);
  }
  for (let k = 0; k < 300; k++) rmSync(join(root, aPath(k * 29 + 5 + off * 2)), { force: true });
  for (let k = 0; k < 100; k++) {
    const p = join(root, aPath(k * 31 + 7 + off));
    if (lstatSync(p, { throwIfNoEntry: false }) === undefined) continue;
    if (k % 4 === 0) chmodSync(p, 0o640);
    else if (k % 4 === 1) lchownSync(p, 2000 + n, 2000 + n);
    else if (k % 4 === 2) setxattr(p, "user.k", text(`layer ${n}`));
    else utimesSync(p, T0 + n * 1000 + k, T0 + n * 1000 + k);
  }
  if (n === 2) {
    rmSync(join(root, "del"), { recursive: true });
    rmSync(join(root, "delfile"));
    rmSync(join(root, "replace/dir2file"), { recursive: true });
    writeFileSync(join(root, "replace/dir2file"), "now a file");
    rmSync(join(root, "replace/file2dir"));
    mkdirSync(join(root, "replace/file2dir"));
    writeFileSync(join(root, "replace/file2dir/child"), "child");
    // Removed and made again: an opaque directory on overlay.
    rmSync(join(root, "opq"), { recursive: true });
    mkdirSync(join(root, "opq"));
    writeFileSync(join(root, "opq/new"), "new");
    linkSync(join(root, aPath(3)), join(root, "hl/from-lower"));
    mkdirSync(join(root, "hl2"));
    writeFileSync(join(root, "hl2/p"), "p");
    linkSync(join(root, "hl2/p"), join(root, "hl2/q"));
    rmSync(join(root, "links/s0"));
    symlinkSync("../big", join(root, "links/s0"));
    setxattr(join(root, "xdir"), "user.dir", text("2"));
    setxattr(join(root, aPath(89)), "user.other", text("x"));
    removexattr(join(root, aPath(178)), "user.k");
  } else {
    writeFileSync(join(root, "del"), "a file where a directory was");
    rmSync(join(root, "replace/file2dir"), { recursive: true });
    writeFileSync(join(root, "replace/file2dir"), "a file again");
    rmSync(join(root, "opq"), { recursive: true });
    symlinkSync("xdir", join(root, "opq"));
    rmSync(join(root, "hl/one"));
    writeFileSync(join(root, "hl2/p"), "p changed, q too");
    rmSync(join(root, "special/fifo"));
    mkdirSync(join(root, "special/fifo"));
    rmSync(join(root, `b/d1`), { recursive: true });
  }
}

async function layer(
  sn: Snapshotter,
  name: string,
  parent: string,
  write: (root: string) => void,
): Promise<void> {
  const mounts = await sn.prepare(`${name}-active`, parent);
  await withMounts(mounts, async (dir) => write(dir));
  await sn.commit(name, `${name}-active`);
}

let views = 0;
// Runs fn on a read-only view of committed snapshot `name` (undefined for "").
async function inView<T>(
  sn: Snapshotter,
  name: string,
  fn: (dir: string | undefined, mounts: Mount[]) => Promise<T>,
): Promise<T> {
  if (name === "") return fn(undefined, []);
  const key = `test-view-${views++}`;
  const mounts = await sn.view(key, name);
  try {
    return await withMounts(mounts, (dir) => fn(dir, mounts), { readonly: true });
  } finally {
    await sn.remove(key);
  }
}

// The directory holding a snapshot's own files: a bind source or the top overlay layer.
function ownDir(mounts: Mount[]): string {
  const m = mounts[0] as Mount;
  if (m.type !== "overlay") return m.source;
  const lower = m.options.find((o) => o.startsWith("lowerdir="))?.slice(9);
  return lower?.split(":")[0] as string;
}

async function layerTar(sn: Snapshotter, lower: string, upper: string, file: string) {
  await inView(sn, lower, (lowerDir) =>
    inView(sn, upper, (upperDir) =>
      pipeline(diffDirectories(lowerDir, upperDir as string), createWriteStream(file)),
    ),
  );
}

async function applied(tars: string[]): Promise<string> {
  const dir = mkdtempSync(join(tmp, "ref-"));
  for (const tar of tars) await applyLayer(dir, createReadStream(tar));
  return dir;
}

const ignore = (x: string) => x.startsWith("trusted.overlay.") || x.startsWith("user.overlay.");

// The tree without hardlink groups (a merged file may share its inode with
// a source snapshot), and the groups of paths sharing an inode inside it.
function tree(root: string): { records: TreeRecord[]; links: string[][] } {
  const records = snapshotTree(root, { ignore }).map(({ group: _, ...r }) => r);
  const byInode = new Map<number, string[]>();
  for (const r of records) {
    if (r.type === "dir") continue;
    const ino = lstatSync(join(root, r.path)).ino;
    byInode.set(ino, [...(byInode.get(ino) ?? []), r.path]);
  }
  const links = [...byInode.values()].filter((g) => g.length > 1).sort();
  return { records, links };
}

async function mergedTree(sn: Snapshotter, name: string) {
  return inView(sn, name, async (dir) => tree(dir as string));
}

// What differs between two trees, path by path (readable where toEqual's output is not).
function treeDiff(got: ReturnType<typeof tree>, want: ReturnType<typeof tree>): string[] {
  const out: string[] = [];
  const g = new Map(got.records.map((r) => [r.path, JSON.stringify(r)]));
  const w = new Map(want.records.map((r) => [r.path, JSON.stringify(r)]));
  for (const [path, r] of w) {
    const x = g.get(path);
    if (x === undefined) out.push(`missing ${r}`);
    else if (x !== r) out.push(`differs: got ${x}, want ${r}`);
  }
  for (const [path, r] of g) if (!w.has(path)) out.push(`extra ${r}`);
  const gl = JSON.stringify(got.links);
  const wl = JSON.stringify(want.links);
  if (gl !== wl) out.push(`hardlinks: got ${gl}, want ${wl}`);
  return out.slice(0, 20);
}

// Usage as containerd counts it, by find(1): unique inodes of `dir`, blocks
// × 512, leaving out inodes that also appear in `sources`.
function findUsage(dir: string, sources: string[]): { size: number; inodes: number } {
  const list = (d: string) =>
    execFileSync("find", [d, "-printf", "%D:%i %b\n"], { maxBuffer: 1 << 28 })
      .toString()
      .trim()
      .split("\n")
      .map((l) => l.split(" ") as [string, string]);
  const shared = new Set(sources.flatMap((s) => list(s).map(([k]) => k)));
  const seen = new Set<string>();
  let size = 0;
  for (const [k, blocks] of list(dir)) {
    if (seen.has(k) || shared.has(k)) continue;
    seen.add(k);
    size += Number(blocks) * 512;
  }
  return { size, inodes: seen.size };
}

const kinds = {
  native: (root: string): Promise<Snapshotter> => NativeSnapshotter.open(root),
  overlayfs: (root: string): Promise<Snapshotter> => OverlaySnapshotter.open(root),
} as const;

/** The merge tests against one snapshotter, on three layers of FILES changes each. */
function describeMerge(kind: keyof typeof kinds): void {
  const open = kinds[kind];
  describe(`mergeSnapshots on ${kind}`, () => {
    let sn: Snapshotter;
    let ref3: { records: TreeRecord[]; links: string[][] };
    let ref13: { records: TreeRecord[]; links: string[][] };
    const own = new Map<string, string>();

    beforeAll(async () => {
      sn = await open(mkdtempSync(join(tmp, `${kind}-`)));
      await layer(sn, "L1", "", write1);
      await layer(sn, "L2", "L1", (d) => writeOver(d, 2));
      await layer(sn, "L3", "L2", (d) => writeOver(d, 3));
      const tars = [0, 1, 2].map((i) => join(tmp, `${kind}-layer${i + 1}.tar`));
      await layerTar(sn, "", "L1", tars[0] as string);
      await layerTar(sn, "L1", "L2", tars[1] as string);
      await layerTar(sn, "L2", "L3", tars[2] as string);
      ref3 = tree(await applied(tars));
      if (kind === "overlayfs") ref13 = tree(await applied([tars[0] as string, tars[2] as string]));
      for (const name of ["L1", "L2", "L3"]) {
        await inView(sn, name, async (_, mounts) => {
          own.set(name, ownDir(mounts));
        });
      }
    }, 300_000);
    afterAll(() => sn?.close(), 60_000);

    const chain = [
      { lower: "", upper: "L1" },
      { lower: "L1", upper: "L2" },
      { lower: "L2", upper: "L3" },
    ];

    async function checkUsage(name: string): Promise<void> {
      const usage = await sn.usage(name);
      const dir = await inView(sn, name, async (_, mounts) => ownDir(mounts));
      expect(usage).toEqual(findUsage(dir, [...own.values()]));
      const info = await sn.stat(name);
      expect(info.labels[LABEL_MERGE_USAGE_SIZE]).toBe(String(usage.size));
      expect(info.labels[LABEL_MERGE_USAGE_INODES]).toBe(String(usage.inodes));
    }

    it("reports what the snapshotter allows", () => {
      expect(mergeCapabilities(sn)).toEqual({
        hardlinks: true,
        overlayBased: kind === "overlayfs",
      });
    });

    it("merges a chain of three layers into the tree their tars give", async () => {
      const result = await mergeSnapshots(sn, "chain", chain, { labels: { mine: "yes" } });
      expect(result.info.kind).toBe("committed");
      expect(result.info.labels.mine).toBe("yes");
      const got = await mergedTree(sn, "chain");
      expect(got.records.length).toBe(ref3.records.length);
      expect(treeDiff(got, ref3)).toEqual([]);
      await checkUsage("chain");
      if (kind === "overlayfs") {
        // Base skipping: nothing applied, prepared on top of L3.
        expect(result.skipped).toBe(3);
        expect(result.info.parent).toBe("L3");
        expect(result.usage.inodes).toBe(1);
      } else {
        expect(result.skipped).toBe(0);
        expect(result.info.parent).toBe("");
      }
    }, 120_000);

    it("hardlinks files from the source snapshots and leaves them out of the usage", async () => {
      const result = await mergeSnapshots(sn, "flat", chain, { overlayBased: false });
      expect(result.skipped).toBe(0);
      expect(result.info.parent).toBe("");
      expect(treeDiff(await mergedTree(sn, "flat"), ref3)).toEqual([]);
      await checkUsage("flat");
      const dir = await inView(sn, "flat", async (_, mounts) => ownDir(mounts));
      for (const [path, from] of [
        ["c/d0/f0", "L3"],
        ["b/d2/f2", "L2"],
        [aPath(2), "L1"],
        ["links/s0", "L2"],
      ] as const) {
        const merged = lstatSync(join(dir, path));
        const source = lstatSync(join(own.get(from) as string, path));
        expect([merged.dev, merged.ino]).toEqual([source.dev, source.ino]);
      }
      // Directories and FIFOs are made anew.
      for (const path of ["a", "special"]) {
        const merged = lstatSync(join(dir, path)).ino;
        expect(merged).not.toBe(lstatSync(join(own.get("L1") as string, path)).ino);
      }
      // Almost nothing of its own: directories only.
      expect(result.usage.inodes).toBeLessThan(200);
    }, 120_000);

    // The copy path is the same whatever the target; once is enough.
    if (kind === "native")
      it("copies instead of linking when hardlinks are off", async () => {
        const result = await mergeSnapshots(sn, "copied", chain, {
          overlayBased: false,
          hardlinks: false,
        });
        expect(treeDiff(await mergedTree(sn, "copied"), ref3)).toEqual([]);
        await checkUsage("copied");
        const dir = await inView(sn, "copied", async (_, mounts) => ownDir(mounts));
        expect(lstatSync(join(dir, "c/d0/f0")).nlink).toBe(1);
        expect(result.usage.inodes).toBeGreaterThan(2 * FILES);
      }, 120_000);

    it("merges a diff between non-adjacent snapshots (L1 → L3)", async () => {
      const result = await mergeSnapshots(sn, "skip-l2", [
        { lower: "", upper: "L1" },
        { lower: "L1", upper: "L3" },
      ]);
      expect(treeDiff(await mergedTree(sn, "skip-l2"), ref3)).toEqual([]);
      await checkUsage("skip-l2");
      if (kind === "overlayfs") {
        expect(result.info.parent).toBe("L1");
        expect(result.skipped).toBe(1);
      }
    }, 120_000);

    // On overlayfs: the upperdir of L3 applied as whiteouts over L1.
    if (kind === "overlayfs")
      it("applies a diff over a base it was not made on (L1, then L2 → L3)", async () => {
        const result = await mergeSnapshots(sn, "l1-l23", [
          { lower: "", upper: "L1" },
          { lower: "L2", upper: "L3" },
        ]);
        expect(treeDiff(await mergedTree(sn, "l1-l23"), ref13)).toEqual([]);
        await checkUsage("l1-l23");
        expect(result.info.parent).toBe(kind === "overlayfs" ? "L1" : "");
      }, 120_000);
  });
}

/** The refusals and the clean-up after a failure, against one snapshotter. */
function describeMergeErrors(kind: keyof typeof kinds): void {
  const open = kinds[kind];
  describe(`mergeSnapshots errors on ${kind}`, () => {
    it("leaves nothing behind when it fails or is refused", async () => {
      const root = mkdtempSync(join(tmp, `err-${kind}-`));
      const sn = await open(root);
      try {
        await layer(sn, "A", "", (d) => writeFileSync(join(d, "a"), "a"));
        await layer(sn, "B", "A", (d) => writeFileSync(join(d, "b"), "b"));
        await layer(sn, "X", "", (d) => writeFileSync(join(d, "x"), "x"));
        const names = async () => {
          const out: string[] = [];
          await sn.walk((info) => {
            out.push(info.name);
          });
          return out.sort();
        };
        const before = await names();
        const failure = (p: Promise<unknown>) =>
          p.then(
            () => undefined,
            (e: unknown) => e,
          );

        expect(
          isNotFound(await failure(mergeSnapshots(sn, "m", [{ lower: "", upper: "nope" }]))),
        ).toBe(true);
        expect(
          isNotFound(await failure(mergeSnapshots(sn, "m", [{ lower: "nope", upper: "A" }]))),
        ).toBe(true);
        expect(
          isAlreadyExists(await failure(mergeSnapshots(sn, "A", [{ lower: "", upper: "B" }]))),
        ).toBe(true);
        expect(isInvalidArgument(await failure(mergeSnapshots(sn, "", [])))).toBe(true);
        expect(
          isInvalidArgument(await failure(mergeSnapshots(sn, "m", [{ lower: "", upper: "" }]))),
        ).toBe(true);
        const aborted = new AbortController();
        aborted.abort(new Error("stop"));
        expect(
          await failure(
            mergeSnapshots(sn, "m", [{ lower: "", upper: "A" }], { signal: aborted.signal }),
          ),
        ).toBeInstanceOf(Error);

        // X's files vanish under it: the third diff fails after two were applied.
        const xDir = await inView(sn, "X", async (_, mounts) => ownDir(mounts));
        rmSync(xDir, { recursive: true });
        const err = await failure(
          mergeSnapshots(
            sn,
            "m",
            [
              { lower: "", upper: "A" },
              { lower: "A", upper: "B" },
              { lower: "", upper: "X" },
            ],
            { overlayBased: false },
          ),
        );
        expect(isNotFound(err)).toBe(true);
        expect(await names()).toEqual(before);

        // And a merge that works, for contrast.
        await mergeSnapshots(sn, "m", [
          { lower: "", upper: "A" },
          { lower: "A", upper: "B" },
        ]);
        expect(await names()).toEqual([...before, "m"].sort());
      } finally {
        await sn.close();
      }
    }, 60_000);
  });
}

describeMerge("native");
describeMergeErrors("native");
describeMerge("overlayfs");
describeMergeErrors("overlayfs");
