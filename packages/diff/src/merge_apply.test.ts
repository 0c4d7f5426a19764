import {
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { snapshotTree } from "./_testing.ts";
import { walkChanges } from "./changes.ts";
import { MergeApplier, type MergeTarget } from "./merge_apply.ts";

// Sources on tmpfs and targets in the temp dir: two file systems, so links fail with EXDEV.
const shm = mkdtempSync("/dev/shm/strata-merge-apply-");
const tmp = mkdtempSync(join(tmpdir(), "strata-merge-apply-"));
afterAll(() => {
  rmSync(shm, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});
let n = 0;
const fresh = (base: string): string => {
  const d = join(base, `t${n++}`);
  mkdirSync(d);
  return d;
};
const bind = (root: string): MergeTarget => ({ root, lowerdirs: [], opaqueXattr: "" });

function source(lower: string | undefined, upper: string) {
  return { changes: walkChanges(lower, upper), upper, resolve: (p: string) => `${upper}/${p}` };
}

function fill(dir: string): void {
  mkdirSync(join(dir, "d/e"), { recursive: true });
  writeFileSync(join(dir, "d/e/f"), "f");
  writeFileSync(join(dir, "g"), "g");
  linkSync(join(dir, "g"), join(dir, "d/g2"));
  symlinkSync("d/e/f", join(dir, "s"));
  utimesSync(join(dir, "g"), 1_500_000_000, 1_500_000_000);
}

describe("MergeApplier", () => {
  it("hardlinks files from a source on the same file system", async () => {
    const upper = fresh(tmp);
    fill(upper);
    const target = fresh(tmp);
    const applier = new MergeApplier(bind(target), { hardlinks: true });
    await applier.apply(source(undefined, upper));
    applier.finish();
    expect(lstatSync(join(target, "g")).ino).toBe(lstatSync(join(upper, "g")).ino);
    expect(lstatSync(join(target, "d/g2")).ino).toBe(lstatSync(join(upper, "g")).ino);
    expect(lstatSync(join(target, "d")).ino).not.toBe(lstatSync(join(upper, "d")).ino);
    const g = lstatSync(join(target, "g"));
    expect(applier.linked.has(`${g.dev}:${g.ino}`)).toBe(true);
    expect(snapshotTree(target, { dirTimes: true })).toEqual(
      snapshotTree(upper, { dirTimes: true }),
    );
  });

  it("copies when a link would cross file systems, keeping links within the diff", async () => {
    const upper = fresh(shm);
    fill(upper);
    const target = fresh(tmp);
    expect(lstatSync(upper).dev).not.toBe(lstatSync(target).dev);
    const applier = new MergeApplier(bind(target), { hardlinks: true });
    await applier.apply(source(undefined, upper));
    applier.finish();
    expect(applier.linked.size).toBe(0);
    expect(readFileSync(join(target, "d/g2"), "utf8")).toBe("g");
    expect(lstatSync(join(target, "g")).ino).toBe(lstatSync(join(target, "d/g2")).ino);
    expect(lstatSync(join(target, "g")).nlink).toBe(2);
    expect(readlinkSync(join(target, "s"))).toBe("d/e/f");
    expect(snapshotTree(target, { dirTimes: true })).toEqual(
      snapshotTree(upper, { dirTimes: true }),
    );
  });

  it("never changes a shared file in place when a later diff changes it", async () => {
    const one = fresh(tmp);
    fill(one);
    const two = fresh(tmp);
    fill(two);
    writeFileSync(join(two, "g"), "changed"); // also changes d/g2: same inode
    rmSync(join(two, "d/e"), { recursive: true });
    writeFileSync(join(two, "d/e"), "now a file");
    const target = fresh(tmp);
    const applier = new MergeApplier(bind(target), { hardlinks: true });
    await applier.apply(source(undefined, one));
    await applier.apply(source(one, two));
    applier.finish();
    expect(readFileSync(join(one, "g"), "utf8")).toBe("g");
    expect(readFileSync(join(target, "g"), "utf8")).toBe("changed");
    expect(readFileSync(join(target, "d/g2"), "utf8")).toBe("changed");
    expect(readFileSync(join(target, "d/e"), "utf8")).toBe("now a file");
    expect(lstatSync(join(one, "d/e")).isDirectory()).toBe(true);
  });

  it("deletes what a diff deletes and nothing else", async () => {
    const one = fresh(tmp);
    fill(one);
    const two = fresh(tmp);
    fill(two);
    rmSync(join(two, "d"), { recursive: true });
    rmSync(join(two, "s"));
    const target = fresh(tmp);
    const applier = new MergeApplier(bind(target), { hardlinks: false });
    await applier.apply(source(undefined, one));
    writeFileSync(join(target, "mine"), "kept");
    await applier.apply(source(one, two));
    applier.finish();
    expect(snapshotTree(target).map((r) => r.path)).toEqual(["g", "mine"]);
  });

  it("fails with the change's path when the source file is gone", async () => {
    const upper = fresh(tmp);
    fill(upper);
    const target = fresh(tmp);
    const applier = new MergeApplier(bind(target), { hardlinks: false });
    const err = await applier
      .apply({ ...source(undefined, upper), resolve: (p) => `${upper}/missing-${p}` })
      .catch((e: unknown) => e);
    expect(String(err)).toMatch(/cannot merge add of "d\/e\/f"/);
  });

  it("stops when the signal fires", async () => {
    const upper = fresh(tmp);
    fill(upper);
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    const applier = new MergeApplier(bind(fresh(tmp)), { hardlinks: false });
    await expect(
      applier.apply(source(undefined, upper), { signal: controller.signal }),
    ).rejects.toThrow("stop");
  });
});
