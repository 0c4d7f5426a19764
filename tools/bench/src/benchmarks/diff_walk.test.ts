import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { writeSemiCompressible } from "./compress.ts";
import { applyChangeSet, benchFiles, generateTree, treePath } from "./diff_walk.ts";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  delete process.env.STRATA_BENCH_FILES;
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "bench-layers-test-"));
  dirs.push(d);
  return d;
}

describe("generateTree", () => {
  it("writes the files in directories of 100, the same bytes every time", async () => {
    const [a, b] = [await tempDir(), await tempDir()];
    generateTree(a, 1000);
    generateTree(b, 1000);
    expect(readdirSync(join(a, "d0")).length).toBe(10);
    expect(readdirSync(join(a, "d0/s3")).length).toBe(100);
    expect(existsSync(join(a, treePath(999)))).toBe(true);
    expect(readFileSync(join(a, treePath(123)))).toEqual(readFileSync(join(b, treePath(123))));
    const sizes = [0, 1, 2, 500, 999].map((i) => statSync(join(a, treePath(i))).size);
    expect(Math.max(...sizes)).toBeLessThan(4096);
    expect(new Set(sizes).size).toBeGreaterThan(1);
  });
});

describe("applyChangeSet", () => {
  it("changes about 100 paths and reports the written and removed ones", async () => {
    const root = await tempDir();
    generateTree(root, 2000);
    const { written, removed } = applyChangeSet(root, 2000);
    expect(written.length).toBe(85);
    expect(removed.length).toBe(16);
    for (const p of written) expect(existsSync(join(root, p)), p).toBe(true);
    for (const p of removed) expect(existsSync(join(root, p)), p).toBe(false);
  });
});

describe("benchFiles", () => {
  it("reads STRATA_BENCH_FILES and refuses nonsense", () => {
    expect(benchFiles(7000)).toBe(7000);
    process.env.STRATA_BENCH_FILES = "100000";
    expect(benchFiles(7000)).toBe(100000);
    process.env.STRATA_BENCH_FILES = "12abc";
    expect(() => benchFiles(7000)).toThrow(/STRATA_BENCH_FILES/);
  });
});

describe("writeSemiCompressible", () => {
  it("writes exactly size bytes that gzip shrinks to roughly half", async () => {
    const file = join(await tempDir(), "in.bin");
    await writeSemiCompressible(file, 4 << 20);
    const data = readFileSync(file);
    expect(data.length).toBe(4 << 20);
    const ratio = gzipSync(data, { level: 6 }).length / data.length;
    expect(ratio).toBeGreaterThan(0.3);
    expect(ratio).toBeLessThan(0.6);
  });
});
