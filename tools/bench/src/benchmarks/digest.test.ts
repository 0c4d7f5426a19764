import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { runBenchmark } from "../runner.ts";
import { digestBenchmark, writeInput } from "./digest.ts";

const run = promisify(execFile);
const DIGEST_BIN = join(import.meta.dirname, "../bin/digest.ts");

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
  delete process.env.STRATA_BENCH_SIZE;
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "bench-digest-test-"));
  dirs.push(d);
  return d;
}

describe("writeInput", () => {
  it("writes exactly size bytes and returns their sha256", async () => {
    const dir = await tempDir();
    for (const size of [1, 7, 5 * 1024 * 1024 + 3]) {
      const path = join(dir, `f${size}`);
      const hex = await writeInput(path, size);
      const data = await readFile(path);
      expect(data.length).toBe(size);
      expect(hex).toBe(createHash("sha256").update(data).digest("hex"));
    }
  });

  it("makes chunks that differ from each other", async () => {
    const dir = await tempDir();
    const path = join(dir, "f");
    await writeInput(path, 8 << 20);
    const data = await readFile(path);
    expect(data.subarray(0, 4 << 20).equals(data.subarray(4 << 20))).toBe(false);
  });

  it("refuses to overwrite an existing file", async () => {
    const dir = await tempDir();
    const path = join(dir, "f");
    await writeInput(path, 10);
    await expect(writeInput(path, 10)).rejects.toMatchObject({ code: "EEXIST" });
  });
});

describe("bin/digest.ts", () => {
  it("prints the sha256 of a file like sha256sum does", async () => {
    const dir = await tempDir();
    const path = join(dir, "input");
    const hex = await writeInput(path, 3 * 1024 * 1024 + 17);
    const { stdout } = await run(process.execPath, [DIGEST_BIN, path]);
    expect(stdout).toBe(`${hex}  ${path}\n`);
  });

  it("fails for a missing file and without arguments", async () => {
    await expect(run(process.execPath, [DIGEST_BIN, "/nonexistent/file"])).rejects.toMatchObject({
      code: 1,
    });
    await expect(run(process.execPath, [DIGEST_BIN])).rejects.toMatchObject({ code: 2 });
  });
});

describe("digestBenchmark", () => {
  it("runs Strata's digest against sha256sum on a file of STRATA_BENCH_SIZE and cleans up", async () => {
    process.env.STRATA_BENCH_SIZE = "1M";
    const prepared = await digestBenchmark.setup({});
    expect(prepared.bytes).toBe(1024 * 1024);
    expect(prepared.peers.map((p) => p.name)).toContain("sha256sum");
    const strata = prepared.strata;
    if (typeof strata === "function") throw new Error("expected a spawned command");
    const file = strata.argv[2] as string;
    expect((await stat(file)).size).toBe(1024 * 1024);
    await prepared.teardown?.();
    await expect(stat(file)).rejects.toMatchObject({ code: "ENOENT" });

    const result = await runBenchmark(digestBenchmark, { rounds: 1, warmup: 0 });
    expect(result.sides.map((s) => s.side)[0]).toBe("strata");
    expect(result.sides.length).toBeGreaterThanOrEqual(2);
  });

  it("rejects a bad STRATA_BENCH_SIZE", async () => {
    process.env.STRATA_BENCH_SIZE = "lots";
    await expect(digestBenchmark.setup({})).rejects.toThrow('invalid size "lots"');
  });
});
