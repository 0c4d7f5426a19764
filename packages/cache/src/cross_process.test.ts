import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { isInvalidArgument } from "@strata/errdefs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { bindSource, openTestCache, type TestCache, writeFiles } from "./_testing.ts";
import { CacheManager } from "./cache_manager.ts";
import type { ImmutableRef } from "./refs.ts";
import type { CacheStats } from "./types.ts";

const WORKER = join(import.meta.dirname, "_cross_process_worker.ts");
const PROCESSES = 4;

interface WorkerResult {
  stats: CacheStats;
  digests: string[];
}

/**
 * Starts one worker process per ref (see _cross_process_worker.ts), lets
 * them all open the root, then releases them at once and collects what each
 * computed.
 */
async function runWorkers(
  root: string,
  locks: string,
  refs: readonly string[],
  args: readonly string[],
): Promise<WorkerResult[]> {
  const children: ChildProcess[] = [];
  try {
    const outs = refs.map((ref) => {
      const child = spawn(process.execPath, [WORKER, root, locks, ref, ...args], {
        stdio: ["pipe", "pipe", "pipe"],
      });
      children.push(child);
      let out = "";
      let err = "";
      child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
      });
      child.stderr?.on("data", (c: Buffer) => {
        err += c.toString();
      });
      const ready = new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (out.startsWith("ready\n")) resolve();
        };
        child.stdout?.on("data", check);
        child.once("exit", () => reject(new Error(`worker exited before ready: ${err}`)));
      });
      const done = once(child, "exit").then(([code]) => {
        if (code !== 0) throw new Error(`worker for ${ref} exited with ${code}: ${err}`);
        return JSON.parse(out.slice("ready\n".length)) as WorkerResult;
      });
      return { child, ready, done };
    });
    await Promise.all(outs.map((o) => o.ready));
    for (const o of outs) o.child.stdin?.end("go\n");
    return await Promise.all(outs.map((o) => o.done));
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
}

const sum = (results: readonly WorkerResult[], key: keyof CacheStats): number =>
  results.reduce((n, r) => n + r.stats[key], 0);

describe("CacheManager with locksDir", () => {
  let t: TestCache;
  let base1: ImmutableRef;
  let tops: ImmutableRef[];
  const held: ImmutableRef[] = [];

  beforeEach(async () => {
    t = await openTestCache("native");
    const make = async (parent: ImmutableRef | undefined, files: Record<string, string>) => {
      const m = await t.cm.new(parent);
      await writeFiles(bindSource(await m.mount()), files);
      const ref = await m.commit();
      held.push(ref);
      return ref;
    };
    // Incompressible bases, so that each blob takes a while to compute.
    const base0 = await make(undefined, { big: randomBytes(3 << 20).toString("base64") });
    base1 = await make(base0, { "usr/lib/a": randomBytes(1 << 20).toString("base64") });
    tops = [];
    for (let i = 0; i < PROCESSES; i++) tops.push(await make(base1, { [`app${i}`]: `app ${i}` }));
  });

  afterEach(async () => {
    for (const r of held.splice(0)) await r.release();
    await t.cleanup();
  });

  it("computes each shared blob once across processes, then converts each once", async () => {
    const locks = join(t.root, "locks");
    const ids = tops.map((r) => r.id);
    const first = await runWorkers(t.root, locks, ids, ["gzip"]);
    // Two shared bases and one top per process: one differ run each in all.
    expect(sum(first, "differRuns")).toBe(2 + PROCESSES);
    for (const r of first) expect(r.stats.differRuns).toBeGreaterThanOrEqual(1);
    expect(sum(first, "conversions")).toBe(0);
    expect(new Set(first.map((r) => JSON.stringify(r.digests.slice(0, 2)))).size).toBe(1);
    expect(new Set(first.map((r) => r.digests[2])).size).toBe(PROCESSES);
    // Every process sees the blobs the others computed.
    expect(t.cm.record(base1.id).blob).toBe(first[0]?.digests[1]);

    const zstd = await runWorkers(t.root, locks, ids, ["zstd", "force"]);
    expect(sum(zstd, "differRuns")).toBe(0);
    expect(sum(zstd, "conversions")).toBe(2 + PROCESSES);
    expect(new Set(zstd.map((r) => JSON.stringify(r.digests.slice(0, 2)))).size).toBe(1);
    const variants = await t.cm.getRemotes(base1, { compression: "zstd", force: true });
    expect(t.cm.stats.conversions).toBe(0);
    expect(variants[0]?.descriptors.map((d) => d.digest)).toEqual(zstd[0]?.digests.slice(0, 2));
    // Every lock was released.
    expect(await readdir(locks)).toEqual([]);
  }, 60_000);

  it("rejects an empty lock directory", async () => {
    await expect(
      CacheManager.open({
        db: t.db,
        snapshotter: t.snapshotter,
        snapshotterName: "native",
        locksDir: "",
      }),
    ).rejects.toSatisfy(isInvalidArgument);
  });
});
