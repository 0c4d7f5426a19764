import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFailedPrecondition } from "@strata/errdefs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NativeSnapshotter } from "./native.ts";

// The crash windows of DirSnapshotter, recreated by hand (the random kills
// of crash.root.test.ts rarely land in them), through NativeSnapshotter.

let root: string;
const snapshots = () => join(root, "snapshots");
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "strata-dirsn-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

// A pid above any pid_max: never a live process.
const DEAD_PID = 99_999_999;

describe("DirSnapshotter.cleanup", () => {
  it("puts back the directory of a remove that died before its commit", async () => {
    let sn = await NativeSnapshotter.open(root);
    await sn.prepare("a", "");
    await writeFile(join(snapshots(), "1", "f"), "kept");
    await sn.close();
    // The remove moved the directory aside, then the process died.
    await rename(join(snapshots(), "1"), join(snapshots(), "rm-1"));
    sn = await NativeSnapshotter.open(root);
    try {
      expect(await readdir(snapshots())).toEqual(["1"]);
      expect(await readFile(join(snapshots(), "1", "f"), "utf8")).toBe("kept");
      await sn.commit("c", "a");
      await sn.remove("c");
      expect(await readdir(snapshots())).toEqual([]);
    } finally {
      await sn.close();
    }
  });

  it("deletes what unrecorded snapshots, dead builders and finished removes left", async () => {
    let sn = await NativeSnapshotter.open(root);
    await sn.prepare("a", "");
    await sn.close();
    const left = [
      "2", // moved in place by a create whose transaction never committed
      `new-${DEAD_PID}-0123456789ab`, // built by a process that is gone
      `new-${process.pid}-0123456789ab`, // this process builds nothing now
      "rm-7", // a remove that committed but did not finish deleting
      "rm-2-deadbeef", // a cleanup that did not finish
    ];
    for (const name of left) {
      await mkdir(join(snapshots(), name, "sub"), { recursive: true });
      await writeFile(join(snapshots(), name, "sub", "f"), "x");
    }
    sn = await NativeSnapshotter.open(root);
    try {
      expect(await readdir(snapshots())).toEqual(["1"]);
      // The next create gets id 2, whose place is free again.
      expect(await sn.prepare("b", "")).toEqual([
        { type: "bind", source: join(snapshots(), "2"), options: ["rbind", "rw"] },
      ]);
      expect(await readdir(join(snapshots(), "2"))).toEqual([]);
    } finally {
      await sn.close();
    }
  });

  it("keeps the temporary directory of a live process and names it doesn't know", async () => {
    const sn = await NativeSnapshotter.open(root);
    try {
      // pid 1 is always alive: another process building a snapshot.
      await mkdir(join(snapshots(), "new-1-0123456789ab"));
      await mkdir(join(snapshots(), "lost+found"));
      await sn.cleanup();
      expect((await readdir(snapshots())).sort()).toEqual(["lost+found", "new-1-0123456789ab"]);
    } finally {
      await sn.close();
    }
  });

  it("removes a directory left by a create with the same id before moving in", async () => {
    const sn = await NativeSnapshotter.open(root);
    try {
      // As if a crash left "1" after open's cleanup had run.
      await mkdir(join(snapshots(), "1"));
      await writeFile(join(snapshots(), "1", "stale"), "x");
      await sn.prepare("a", "");
      expect(existsSync(join(snapshots(), "1", "stale"))).toBe(false);
    } finally {
      await sn.close();
    }
  });
});

describe("DirSnapshotter", () => {
  it("refuses every operation after close, except close", async () => {
    const sn = await NativeSnapshotter.open(root);
    await sn.prepare("a", "");
    await sn.close();
    for (const op of [
      () => sn.stat("a"),
      () => sn.prepare("b", ""),
      () => sn.mounts("a"),
      () => sn.cleanup(),
      () => sn.walk(() => {}),
    ]) {
      const err = await op().catch((e: unknown) => e);
      expect(isFailedPrecondition(err), String(err)).toBe(true);
    }
    await sn.close();
  });

  it("deletes the temporary copy when prepare is aborted while copying", async () => {
    const sn = await NativeSnapshotter.open(root);
    try {
      await sn.prepare("p-a", "");
      for (let i = 0; i < 200; i++) await writeFile(join(snapshots(), "1", `f${i}`), "x");
      await sn.commit("p", "p-a");
      const controller = new AbortController();
      const done = sn.prepare("a", "p", { signal: controller.signal });
      controller.abort(new Error("stop"));
      await expect(done).rejects.toThrow("stop");
      expect(await readdir(snapshots())).toEqual(["1"]);
      await expect(sn.stat("a")).rejects.toThrow(/not found/);
    } finally {
      await sn.close();
    }
  });
});
