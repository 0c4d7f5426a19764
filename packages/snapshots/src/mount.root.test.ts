import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isInvalidArgument } from "@strata/errdefs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { mountAll, unmountAll, withMounts } from "./mount.ts";
import type { Mount } from "./snapshotter.ts";

// Needs root (mount(2)); fails, not skips, without it.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-mount-helpers-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function mounted(path: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[4] === path);
}

async function tree(root: string, files: Record<string, string>): Promise<string> {
  await mkdir(root, { recursive: true });
  for (const [name, data] of Object.entries(files)) await writeFile(join(root, name), data);
  return root;
}

describe("withMounts", () => {
  it("mounts, runs fn on the mount, then unmounts and removes the directory", async () => {
    const src = await tree(join(dir, "src"), { f: "hello" });
    let seen = "";
    const out = await withMounts(
      [{ type: "bind", source: src, options: ["rbind", "rw"] }],
      async (m) => {
        seen = m;
        expect(mounted(m)).toBe(true);
        await writeFile(join(m, "new"), "written");
        return readFile(join(m, "f"), "utf8");
      },
    );
    expect(out).toBe("hello");
    expect(mounted(seen)).toBe(false);
    expect(existsSync(seen)).toBe(false);
    expect(await readFile(join(src, "new"), "utf8")).toBe("written");
  });

  it("unmounts and removes the directory when fn throws", async () => {
    const src = await tree(join(dir, "src"), { f: "x" });
    let seen = "";
    const err = await withMounts(
      [{ type: "bind", source: src, options: ["rbind", "rw"] }],
      async (m) => {
        seen = m;
        throw new Error("fn failed");
      },
    ).catch((e: unknown) => e);
    expect(String(err)).toMatch(/fn failed/);
    expect(seen).not.toBe("");
    expect(mounted(seen)).toBe(false);
    expect(existsSync(seen)).toBe(false);
    expect(await readdir(src)).toEqual(["f"]); // the source is untouched
  });

  it("mounts read-only with readonly: writes fail with EROFS", async () => {
    const src = await tree(join(dir, "src"), { f: "x" });
    await withMounts(
      [{ type: "bind", source: src, options: ["rbind", "rw"] }],
      async (m) => {
        expect(await readFile(join(m, "f"), "utf8")).toBe("x");
        await expect(writeFile(join(m, "g"), "y")).rejects.toMatchObject({ code: "EROFS" });
      },
      { readonly: true },
    );
  });

  it("gives an empty directory for no mounts", async () => {
    const out = await withMounts([], async (m) => readdir(m));
    expect(out).toEqual([]);
  });

  it("rejects when a mount fails and leaves nothing mounted", async () => {
    let leaked = 0;
    const err = await withMounts(
      [{ type: "bind", source: join(dir, "missing"), options: ["rbind"] }],
      async () => {
        leaked++;
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(leaked).toBe(0);
  });
});

describe("mountAll", () => {
  it("stacks mounts in order and unmountAll removes all of them", async () => {
    const a = await tree(join(dir, "a"), { a: "1" });
    const b = await tree(join(dir, "b"), { b: "2" });
    const target = await tree(join(dir, "t"), {});
    await mountAll(
      [
        { type: "bind", source: a, options: ["rbind"] },
        { type: "bind", source: b, options: ["rbind", "ro"] },
      ],
      target,
    );
    expect(await readdir(target)).toEqual(["b"]);
    await unmountAll(target);
    expect(mounted(target)).toBe(false);
    expect(await readdir(target)).toEqual([]);
    await unmountAll(target); // nothing mounted: a no-op
  });

  it("unmounts what it mounted when a later mount fails", async () => {
    const a = await tree(join(dir, "a"), { a: "1" });
    const target = await tree(join(dir, "t"), {});
    const err = await mountAll(
      [
        { type: "bind", source: a, options: ["rbind"] },
        { type: "overlay", source: "overlay", options: [`lowerdir=${join(dir, "none")}:${a}`] },
      ],
      target,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(mounted(target)).toBe(false);
  });

  it("mounts an overlay of 128 layers whose options exceed a page (relative lowerdirs)", async () => {
    // Long layer paths so that the absolute option string is well over 4095 bytes.
    const base = join(dir, "layers-with-a-rather-long-directory-name");
    const lowers: string[] = [];
    for (let i = 0; i < 128; i++) {
      const l = await tree(join(base, `${String(i).padStart(4, "0")}`, "fs"), {
        [`f${i}`]: String(i),
        shared: `layer ${i}`,
      });
      lowers.push(l);
    }
    const upper = await tree(join(base, "upper", "fs"), {});
    const work = await tree(join(base, "upper", "work"), {});
    const m: Mount = {
      type: "overlay",
      source: "overlay",
      options: [`workdir=${work}`, `upperdir=${upper}`, `lowerdir=${lowers.reverse().join(":")}`],
    };
    expect(m.options.join(",").length).toBeGreaterThan(4096 + 512);
    await withMounts([m], async (merged) => {
      const names = await readdir(merged);
      expect(names.length).toBe(129);
      // lowers[0] (layer 127) is the topmost.
      expect(await readFile(join(merged, "shared"), "utf8")).toBe("layer 127");
      expect(await readFile(join(merged, "f0"), "utf8")).toBe("0");
      await writeFile(join(merged, "written"), "up");
    });
    expect(await readFile(join(upper, "written"), "utf8")).toBe("up");
    // Also read-only (upper on top of the lowers).
    await withMounts(
      [m],
      async (merged) => {
        expect(await readFile(join(merged, "written"), "utf8")).toBe("up");
        await expect(writeFile(join(merged, "x"), "")).rejects.toMatchObject({ code: "EROFS" });
      },
      { readonly: true },
    );
  });

  it("refuses too long options whose layers share no parent directory", async () => {
    const target = await tree(join(dir, "t"), {});
    const lowers = Array.from({ length: 200 }, (_, i) => `/strata-no-such-${i}/${"x".repeat(20)}`);
    const err = await mountAll(
      [{ type: "overlay", source: "overlay", options: [`lowerdir=${lowers.join(":")}`] }],
      target,
    ).catch((e: unknown) => e);
    expect(isInvalidArgument(err)).toBe(true);
    expect(String(err)).toMatch(/share no parent directory/);
    expect(mounted(target)).toBe(false);
  });
});
