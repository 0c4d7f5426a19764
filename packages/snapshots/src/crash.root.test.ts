import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DirSnapshotter } from "./_dir_snapshotter.ts";
import { MetaStore } from "./_metastore.ts";
import { withMounts } from "./mount.ts";
import { NativeSnapshotter } from "./native.ts";
import { OverlaySnapshotter } from "./overlay.ts";

// A child process works on a snapshotter and is killed with SIGKILL at a
// random moment; reopening must leave no half snapshot. Needs root (the
// big parent is written through a mount); fails, not skips, without it.

const CHILD = fileURLToPath(new URL("./testdata/crash_child.ts", import.meta.url));
const DIRS = 6;
const FILES_PER_DIR = 100;
const BIG_FILES = DIRS * FILES_PER_DIR + 2;

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "strata-snapshots-crash-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

type Backend = "native" | "overlay";

function open(backend: Backend): Promise<DirSnapshotter> {
  return backend === "native" ? NativeSnapshotter.open(root) : OverlaySnapshotter.open(root);
}

/** The committed parent "big": many small files and a few larger ones. */
async function makeBig(backend: Backend): Promise<void> {
  const sn = await open(backend);
  try {
    await withMounts(await sn.prepare("big-a", ""), async (dir) => {
      for (let d = 0; d < DIRS; d++) {
        await mkdir(join(dir, `d${d}`));
        await Promise.all(
          Array.from({ length: FILES_PER_DIR }, (_, f) =>
            writeFile(join(dir, `d${d}`, `f${f}`), `file ${d}/${f}\n`.repeat(64)),
          ),
        );
      }
      for (let i = 0; i < 2; i++) await writeFile(join(dir, `big${i}`), Buffer.alloc(1 << 20, i));
    });
    await sn.commit("big", "big-a");
  } finally {
    await sn.close();
  }
}

/** Starts the child and resolves once it printed "ready". */
function startChild(backend: Backend): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CHILD, backend, root], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (line === "ready") resolve(child);
    });
    child.on("exit", (code, signal) =>
      reject(new Error(`child exited early (${code ?? signal}): ${stderr}`)),
    );
  });
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

const countFiles = (dir: string): number =>
  readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;

/** Processes (cp, mostly) still working under the root. */
function stragglers(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      if (cmd.includes(root) && !cmd.includes("crash_child")) out.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * The invariant after a crash and reopen: the directories under
 * snapshots/ are exactly the recorded ids, and each holds a whole
 * snapshot. Returns the number of records.
 */
function checkConsistent(backend: Backend, what: string): number {
  const meta = MetaStore.open(join(root, "metadata.db"));
  try {
    const records = meta.list();
    const byId = new Map(records.map((info) => [meta.get(info.name).id, info]));
    const names = readdirSync(join(root, "snapshots")).sort();
    expect(names, what).toEqual([...byId.keys()].map(String).sort());
    for (const [id, info] of byId) {
      const dir = join(root, "snapshots", String(id));
      if (backend === "native") {
        // The child's snapshots derive from big and add nothing: a
        // non-view is a whole copy; a view of a parent copies nothing.
        const want = info.kind === "view" ? 0 : info.name.startsWith("after") ? 0 : BIG_FILES;
        expect(countFiles(dir), `${what}: ${info.name} (${info.kind})`).toBe(want);
      } else {
        expect(existsSync(join(dir, "fs")), `${what}: ${info.name} fs`).toBe(true);
        if (info.kind === "active") {
          expect(existsSync(join(dir, "work")), `${what}: ${info.name} work`).toBe(true);
        }
      }
    }
    return records.length;
  } finally {
    meta.close();
  }
}

describe.each(["native", "overlay"] as const)("%s after SIGKILL", (backend) => {
  it("reopens with no half snapshot and keeps working", { timeout: 60_000 }, async () => {
    await makeBig(backend);
    // Kill points spread over the child's work: right away, and at random
    // moments of its prepare/commit/view/remove loop (one round of it takes
    // a few hundred ms with native's copies, a few ms with overlay).
    const delays = [0, 5, ...Array.from({ length: 5 }, () => Math.floor(Math.random() * 600))];
    let records = 0;
    for (const [i, delay] of delays.entries()) {
      const child = await startChild(backend);
      await new Promise((resolve) => setTimeout(resolve, delay));
      await kill(child);
      const what = `iteration ${i}, killed after ${delay} ms`;
      // cp dies with the child (pdeathsig), a moment after it.
      for (let t = 0; t < 100 && stragglers().length > 0; t++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(stragglers(), what).toEqual([]);
      const sn = await open(backend); // runs cleanup
      try {
        records = checkConsistent(backend, what);
        // New snapshots work (without copying big: that comes at the end).
        await sn.prepare(`after-${i}`, "");
        await sn.commit(`after-c-${i}`, `after-${i}`);
        await sn.view(`after-v-${i}`, `after-c-${i}`);
        await sn.remove(`after-v-${i}`);
        await sn.remove(`after-c-${i}`);
      } finally {
        await sn.close();
      }
      checkConsistent(backend, `${what}, after new work`);
    }
    const sn = await open(backend);
    try {
      await withMounts(await sn.prepare("last", "big"), async (dir) => {
        expect(countFiles(dir)).toBe(BIG_FILES);
        await writeFile(join(dir, "new"), "x");
      });
      await sn.commit("last-c", "last");
      expect((await sn.stat("last-c")).parent).toBe("big");
    } finally {
      await sn.close();
    }
    expect(records).toBeGreaterThanOrEqual(1);
  });
});
