// A merge killed with SIGKILL at random points: the merged key is either
// complete or absent, and after the root is opened again and one collection
// runs, nothing the merge made is left (no record, no backend directory, no
// lease). Needs root (the child mounts to fill its layers).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type SnapshotInfo, withMounts } from "@strata/snapshots";
import { describe, expect, it } from "vitest";
import { StrataRoot } from "./strata_root.ts";

const CHILD = fileURLToPath(new URL("./testdata/merge_crash_child.ts", import.meta.url));
const FILES = 1500;
const seed = Number(process.env.STRATA_CRASH_SEED ?? Date.now() % 100_000);

function random(): () => number {
  let x = seed || 1;
  return () => {
    x = (x * 48271) % 2147483647;
    return x;
  };
}

// Runs the child until the line `merging m<merge>` plus `delayMs`, then kills it.
// Returns the merges it reported as done.
async function runAndKill(root: string, kind: string, merge: number, delayMs: number) {
  const child: ChildProcess = spawn(process.execPath, [CHILD, root, kind, String(FILES)], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  const done: string[] = [];
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    let buffered = "";
    child.stdout?.on("data", (d) => {
      buffered += String(d);
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith("merged ")) done.push(line.slice("merged ".length));
        if (line === `merging m${merge}`) {
          setTimeout(() => {
            child.kill("SIGKILL");
            resolve();
          }, delayMs);
        }
      }
    });
    child.once("exit", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`child exited early (${code}): ${stderr}`));
    });
  });
  await exited;
  return done;
}

async function check(dir: string, kind: string, done: string[]): Promise<void> {
  const root = await StrataRoot.open(dir, { snapshotter: kind });
  try {
    const session = root.session("crash");
    const sn = session.snapshotter(kind);
    const before: SnapshotInfo[] = [];
    await sn.walk((info) => void before.push(info));
    // Every merge reported done is there; none is visible half made.
    const merged = before.filter((i) => /^m\d+$/.test(i.name));
    for (const name of done) expect(merged.map((i) => i.name)).toContain(name);
    for (const info of merged) {
      expect(info.kind).toBe("committed");
      await sn.view(`check-${info.name}`, info.name);
      await withMounts(await sn.mounts(`check-${info.name}`), async (tree) => {
        for (const layer of ["l1", "l2", "l3"]) {
          expect((await readdir(join(tree, layer))).length).toBe(FILES);
          expect(await readFile(join(tree, layer, `f${FILES - 1}`), "utf8")).toBe(
            `${layer}/${FILES - 1}`,
          );
        }
      });
      await sn.remove(`check-${info.name}`);
    }
    // The dead child's lease was dropped when the root opened; one
    // collection takes what the merge left.
    expect(await session.leases.list()).toEqual([]);
    await root.gc();
    const after: string[] = [];
    await sn.walk((info) => void after.push(`${info.name}:${info.kind}`));
    expect(after.sort()).toEqual(
      ["l1", "l2", "l3", ...merged.map((i) => i.name)].map((n) => `${n}:committed`).sort(),
    );
    const backendDirs = await readdir(join(root.layout.snapshots, kind, "snapshots"));
    expect(backendDirs).toHaveLength(after.length);
    // Removing everything leaves the backend empty.
    for (const info of merged) await sn.remove(info.name);
    for (const layer of ["l3", "l2", "l1"]) await sn.remove(layer);
    await root.gc();
    expect(await readdir(join(root.layout.snapshots, kind, "snapshots"))).toEqual([]);
  } finally {
    await root.close();
  }
}

for (const kind of ["native", "overlayfs"]) {
  describe(`mergeIn on ${kind} after SIGKILL`, () => {
    it(`leaves the key complete or absent and nothing after GC (STRATA_CRASH_SEED=${seed})`, async () => {
      if (process.getuid?.() !== 0) throw new Error("this test needs root (mounts)");
      const next = random();
      for (let round = 0; round < 3; round++) {
        const dir = await mkdtemp(join(tmpdir(), "strata-merge-crash-"));
        try {
          const merge = next() % 2;
          const delayMs = next() % 400;
          const done = await runAndKill(dir, kind, merge, delayMs);
          await check(dir, kind, done);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      }
    }, 120_000);
  });
}
