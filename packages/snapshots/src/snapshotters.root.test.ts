import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withMounts } from "./mount.ts";
import { NativeSnapshotter } from "./native.ts";
import { OverlaySnapshotter } from "./overlay.ts";
import { chown, createFile } from "./testsuite/fstest.ts";
import { snapshotterSuite } from "./testsuite/mod.ts";

// Needs root (mounts, chown); fails, not skips, without it.

snapshotterSuite("NativeSnapshotter", { open: (root) => NativeSnapshotter.open(root) });
snapshotterSuite("OverlaySnapshotter", { open: (root) => OverlaySnapshotter.open(root) });

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "strata-snapshotters-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const INDEX_OFF = existsSync("/sys/module/overlay/parameters/index") ? ["index=off"] : [];

describe("OverlaySnapshotter", () => {
  const fs = (id: number) => join(root, "snapshots", String(id), "fs");
  const work = (id: number) => join(root, "snapshots", String(id), "work");

  it("gives the first snapshot id 1 and mounts it as a rw bind of snapshots/1/fs", async () => {
    const sn = await OverlaySnapshotter.open(root);
    try {
      expect(await sn.prepare("a", "")).toEqual([
        { type: "bind", source: fs(1), options: ["rw", "rbind"] },
      ]);
      expect(await sn.mounts("a")).toEqual(await sn.prepare("b", "").then(() => sn.mounts("a")));
      expect(sn.upperdir(1)).toBe(fs(1));
      expect(((await stat(fs(1))).mode & 0o777).toString(8)).toBe("755");
      expect(((await stat(work(1))).mode & 0o777).toString(8)).toBe("711");
      expect(await sn.view("v", "")).toEqual([
        { type: "bind", source: fs(3), options: ["ro", "rbind"] },
      ]);
    } finally {
      await sn.close();
    }
  });

  it("orders overlay options index=off, workdir, upperdir, lowerdir (nearest parent first)", async () => {
    const sn = await OverlaySnapshotter.open(root);
    try {
      await sn.prepare("c1-a", "");
      await sn.commit("c1", "c1-a");
      await sn.prepare("c2-a", "c1");
      await sn.commit("c2", "c2-a");
      expect(await sn.prepare("a", "c2")).toEqual([
        {
          type: "overlay",
          source: "overlay",
          options: [
            ...INDEX_OFF,
            `workdir=${work(3)}`,
            `upperdir=${fs(3)}`,
            `lowerdir=${fs(2)}:${fs(1)}`,
          ],
        },
      ]);
      // A view of one parent binds that parent's fs read-only; of more, a
      // read-only overlay (lowerdirs only).
      expect(await sn.view("v1", "c1")).toEqual([
        { type: "bind", source: fs(1), options: ["ro", "rbind"] },
      ]);
      expect(await sn.view("v2", "c2")).toEqual([
        {
          type: "overlay",
          source: "overlay",
          options: [...INDEX_OFF, `lowerdir=${fs(2)}:${fs(1)}`],
        },
      ]);
    } finally {
      await sn.close();
    }
  });

  it("appends configured mount options after lowerdir and adds userxattr when asked", async () => {
    const sn = await OverlaySnapshotter.open(root, { userxattr: true, mountOptions: ["volatile"] });
    try {
      await sn.prepare("p-a", "");
      await sn.commit("p", "p-a");
      expect((await sn.prepare("a", "p"))[0]?.options).toEqual([
        ...INDEX_OFF,
        "userxattr",
        `workdir=${work(2)}`,
        `upperdir=${fs(2)}`,
        `lowerdir=${fs(1)}`,
        "volatile",
      ]);
    } finally {
      await sn.close();
    }
  });

  it("reads the parent's files through the overlay and writes only to its own upper", async () => {
    const sn = await OverlaySnapshotter.open(root);
    try {
      await withMounts(await sn.prepare("p-a", ""), createFile("/f", "parent", 0o644));
      await sn.commit("p", "p-a");
      await withMounts(await sn.prepare("a", "p"), async (dir) => {
        expect(await readFile(join(dir, "f"), "utf8")).toBe("parent");
        await writeFile(join(dir, "g"), "child");
      });
      expect(await readdir(fs(1))).toEqual(["f"]);
      expect(await readdir(fs(2))).toEqual(["g"]);
    } finally {
      await sn.close();
    }
  });

  it("gives a child's upper the owner of its parent's root", async () => {
    const sn = await OverlaySnapshotter.open(root);
    try {
      await withMounts(await sn.prepare("p-a", ""), chown("/", 1, 2));
      await sn.commit("p", "p-a");
      await sn.prepare("a", "p");
      const s = await stat(fs(2));
      expect([s.uid, s.gid]).toEqual([1, 2]);
      await withMounts(await sn.mounts("a"), async (dir) => {
        const m = await stat(dir);
        expect([m.uid, m.gid]).toEqual([1, 2]);
      });
    } finally {
      await sn.close();
    }
  });

  it("deletes the directories of removed snapshots", async () => {
    const sn = await OverlaySnapshotter.open(root);
    try {
      await sn.prepare("a", "");
      await sn.view("v", "");
      await sn.remove("a");
      await sn.remove("v");
      expect(await readdir(join(root, "snapshots"))).toEqual([]);
    } finally {
      await sn.close();
    }
  });
});

describe("NativeSnapshotter", () => {
  const dir = (id: number) => join(root, "snapshots", String(id));

  it("mounts an active snapshot as a rw bind of its own copy of the parent", async () => {
    const sn = await NativeSnapshotter.open(root);
    try {
      expect(await sn.prepare("p-a", "")).toEqual([
        { type: "bind", source: dir(1), options: ["rbind", "rw"] },
      ]);
      await withMounts(await sn.mounts("p-a"), createFile("/f", "parent", 0o644));
      await sn.commit("p", "p-a");
      expect(await sn.prepare("a", "p")).toEqual([
        { type: "bind", source: dir(2), options: ["rbind", "rw"] },
      ]);
      expect(await readFile(join(dir(2), "f"), "utf8")).toBe("parent");
      await withMounts(await sn.mounts("a"), (d) => writeFile(join(d, "f"), "child"));
      expect(await readFile(join(dir(1), "f"), "utf8")).toBe("parent");
    } finally {
      await sn.close();
    }
  });

  it("mounts a view of a parent as a ro bind of the parent, copying nothing", async () => {
    const sn = await NativeSnapshotter.open(root);
    try {
      await withMounts(await sn.prepare("p-a", ""), createFile("/f", "parent", 0o644));
      await sn.commit("p", "p-a");
      expect(await sn.view("v", "p")).toEqual([
        { type: "bind", source: dir(1), options: ["rbind", "ro"] },
      ]);
      expect(await readdir(dir(2))).toEqual([]);
      expect(await sn.view("v0", "")).toEqual([
        { type: "bind", source: dir(3), options: ["rbind", "ro"] },
      ]);
    } finally {
      await sn.close();
    }
  });

  it("counts the copied parent in an active snapshot's usage, as containerd does", async () => {
    const sn = await NativeSnapshotter.open(root);
    try {
      await withMounts(
        await sn.prepare("p-a", ""),
        createFile("/big", Buffer.alloc(128 * 1024, 1), 0o644),
      );
      await sn.commit("p", "p-a");
      await sn.prepare("a", "p");
      expect((await sn.usage("a")).size).toBeGreaterThanOrEqual(128 * 1024);
    } finally {
      await sn.close();
    }
  });
});
