import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { LocalStore } from "@strata/content";
import {
  NativeSnapshotter,
  OverlaySnapshotter,
  type SnapshotInfo,
  withMounts,
} from "@strata/snapshots";
import { expect } from "vitest";
import { MetadataDB } from "./metadata_db.ts";

/** Where the child is killed: after this many lines, plus a delay. */
export interface CrashPoint {
  lines: number;
  delayMs: number;
}

/**
 * Runs testdata/snapshot_crash_child.ts on a fresh root, kills it with
 * SIGKILL at `point`, reopens everything, runs one GC and checks: every
 * snapshot the child finished is there, no half-made one is visible, the
 * unheld chain is gone, nothing is leaked in either database or on disk;
 * then deleting the lease collects the leased chain.
 */
export async function crashAndCheck(
  kind: "native" | "overlayfs",
  point: CrashPoint,
): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), "strata-snapshot-crash-"));
  try {
    const lines = await runChild(root, kind, point);
    await check(root, kind, lines, point);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function runChild(root: string, kind: string, point: CrashPoint): Promise<string[]> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL("./testdata/snapshot_crash_child.ts", import.meta.url)), root, kind],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += String(d);
  });
  const lines: string[] = [];
  let partial = "";
  let killing = false;
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (d: Buffer) => {
      const parts = (partial + String(d)).split("\n");
      partial = parts.pop() ?? "";
      lines.push(...parts);
      if (lines.length >= point.lines && !killing) {
        killing = true;
        setTimeout(() => {
          child.kill("SIGKILL");
          resolve();
        }, point.delayMs);
      }
    });
    child.on("exit", (code, signal) => {
      if (signal !== "SIGKILL") reject(new Error(`crash child exited ${code}: ${stderr}`));
    });
  });
  await new Promise((r) => child.once("close", r));
  return lines;
}

async function check(
  root: string,
  kind: "native" | "overlayfs",
  lines: string[],
  point: CrashPoint,
): Promise<void> {
  const where = `crash point ${JSON.stringify(point)} after ${JSON.stringify(lines.slice(-2))}`;
  const snRoot = join(root, "snapshots", kind);
  const backend =
    kind === "native"
      ? await NativeSnapshotter.open(snRoot)
      : await OverlaySnapshotter.open(snRoot);
  const blobs = await LocalStore.open(join(root, "content"), { labels: false });
  const dbPath = join(root, "metadata.db");
  const db = await MetadataDB.open(dbPath, {
    contentStore: blobs,
    snapshotters: { [kind]: backend },
    gc: false,
  });
  const raw = new DatabaseSync(dbPath);
  try {
    expect(raw.prepare("PRAGMA integrity_check").get()?.integrity_check, where).toBe("ok");
    await db.gc();
    const sn = db.snapshotter("crash", kind);
    const visible = async () => {
      const infos = new Map<string, SnapshotInfo>();
      await sn.walk((info) => {
        infos.set(info.name, info);
      });
      return infos;
    };
    const backendKeys = async () => {
      const keys: string[] = [];
      await backend.walk((info) => {
        keys.push(info.name);
      });
      return keys.sort();
    };
    // Nothing leaked: backend snapshots, records and directories match one to one.
    const noLeaks = async () => {
      const recorded = raw
        .prepare("SELECT backend_key FROM snapshots ORDER BY backend_key")
        .all()
        .map((r) => String(r.backend_key));
      const keys = await backendKeys();
      expect(keys, where).toEqual(recorded);
      expect((await readdir(join(snRoot, "snapshots"))).length, where).toBe(keys.length);
      const dangling = raw
        .prepare(
          `SELECT r.id FROM lease_resources r LEFT JOIN snapshots s
           ON s.namespace = r.namespace AND 'snapshots/' || s.snapshotter = r.type AND s.key = r.id
           WHERE s.key IS NULL`,
        )
        .all();
      expect(dangling, where).toEqual([]);
      return keys.length;
    };

    const infos = await visible();
    await noLeaks();
    expect(
      [...infos.keys()].filter((n) => n.startsWith("loose")),
      where,
    ).toEqual([]);

    // What the child finished is there; what it was committing is there
    // exactly once, as the active snapshot or as the committed one.
    const committed = lines.filter((l) => l.startsWith("committed ")).map((l) => l.slice(10));
    const prepared = lines.filter((l) => l.startsWith("prepared ")).map((l) => l.slice(9));
    for (const name of committed) {
      if (name.startsWith("loose")) continue;
      expect(infos.get(name)?.kind, `${where}: ${name}`).toBe("committed");
    }
    for (const key of prepared) {
      if (key.startsWith("loose")) continue;
      const name = key.replace("-active-", "-");
      const forms = [infos.has(key), infos.has(name)].filter(Boolean).length;
      expect(forms, `${where}: ${key} / ${name}`).toBe(1);
      if (infos.has(key)) expect(infos.get(key)?.kind, where).toBe("active");
    }
    // The step the child was in when killed: its prepare may have finished unannounced.
    const inFlight = `${["leased", "rooted", "loose"][prepared.length % 3]}-active-${prepared.length}`;
    for (const info of infos.values()) {
      const i = info.name.split("-").pop() as string;
      if (!/^\d+$/.test(i)) throw new Error(`${where}: unexpected snapshot ${info.name}`);
      if (info.kind === "active") {
        expect([...prepared, inFlight], where).toContain(info.name);
        continue;
      }
      // A committed snapshot has the file written before its commit.
      const mounts = await sn.view(`check-${info.name}`, info.name);
      const read = (dir: string) => readFile(join(dir, `file-${i}`), "utf8");
      // A bind mount is read at its source (no mount(2), no root); overlays are mounted.
      const [m] = mounts;
      const text = m?.type === "bind" ? await read(m.source) : await withMounts(mounts, read);
      expect(text, `${where}: ${info.name}`).toBe(info.name);
      await sn.remove(`check-${info.name}`);
    }

    // Deleting the lease releases the leased chain; the rooted one stays.
    await db.leases("crash").delete({ id: "hold" }, { sync: true });
    const after = await visible();
    const rooted = [...infos.keys()].filter((n) => n.startsWith("rooted")).sort();
    expect([...after.keys()].sort(), where).toEqual(rooted);
    expect(await noLeaks(), where).toBe(rooted.length);
  } finally {
    raw.close();
    db.close();
    await backend.close();
    await blobs.close();
  }
}
