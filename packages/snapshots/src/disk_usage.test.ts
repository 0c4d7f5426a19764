import { link, lstat, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isNotFound } from "@strata/errdefs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { diskUsage } from "./disk_usage.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-du-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const blocks = async (...paths: string[]): Promise<number> => {
  let n = 0;
  for (const p of paths) n += (await lstat(p)).blocks * 512;
  return n;
};

describe("diskUsage", () => {
  it("counts the root directory of an empty tree", async () => {
    expect(await diskUsage(dir)).toEqual({ size: await blocks(dir), inodes: 1 });
  });

  it("counts every file, directory and symlink below the root", async () => {
    await mkdir(join(dir, "a/b"), { recursive: true });
    await writeFile(join(dir, "a/b/f"), Buffer.alloc(10_000, 1));
    await writeFile(join(dir, "g"), "small");
    await symlink("a/b/f", join(dir, "s"));
    const paths = ["", "a", "a/b", "a/b/f", "g", "s"].map((p) => join(dir, p));
    expect(await diskUsage(dir)).toEqual({ size: await blocks(...paths), inodes: 6 });
    expect((await diskUsage(dir)).size).toBeGreaterThanOrEqual(10_000);
  });

  it("counts a file with several hardlinks once", async () => {
    await mkdir(join(dir, "d"));
    await writeFile(join(dir, "f"), Buffer.alloc(64 * 1024, 7));
    await link(join(dir, "f"), join(dir, "d/f2"));
    await link(join(dir, "f"), join(dir, "f3"));
    expect(await diskUsage(dir)).toEqual({
      size: await blocks(dir, join(dir, "d"), join(dir, "f")),
      inodes: 3,
    });
  });

  it("leaves out the inodes of the exclude set", async () => {
    await writeFile(join(dir, "shared"), Buffer.alloc(32 * 1024, 1));
    await writeFile(join(dir, "own"), "x");
    const s = await lstat(join(dir, "shared"));
    const usage = await diskUsage(dir, { exclude: new Set([`${s.dev}:${s.ino}`]) });
    expect(usage).toEqual({ size: await blocks(dir, join(dir, "own")), inodes: 2 });
  });

  it("measures a single file given as the root", async () => {
    await writeFile(join(dir, "f"), Buffer.alloc(8192, 1));
    expect(await diskUsage(join(dir, "f"))).toEqual({
      size: await blocks(join(dir, "f")),
      inodes: 1,
    });
  });

  it("walks wide trees (more directories than it reads at once)", async () => {
    for (let i = 0; i < 40; i++) {
      await mkdir(join(dir, `d${i}`, "sub"), { recursive: true });
      await writeFile(join(dir, `d${i}`, "sub", "f"), "x");
    }
    expect((await diskUsage(dir)).inodes).toBe(1 + 40 * 3);
  });

  it("throws NotFound for a missing root", async () => {
    const err = await diskUsage(join(dir, "missing")).catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
    expect(String(err)).toMatch(/cannot compute disk usage of .*missing/);
  });

  it("rejects with the abort reason when the signal is aborted", async () => {
    const reason = new Error("stop");
    await expect(diskUsage(dir, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });
});
