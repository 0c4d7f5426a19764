import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { isInvalidArgument } from "@strata/errdefs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { acquireFileLock, type FileLockOwner, fileLockPath } from "./file_lock.ts";

const WORKER = join(import.meta.dirname, "_lock_worker.ts");

let dir: string;
let log: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-file-lock-"));
  log = join(dir, "log");
  await writeFile(log, "");
});

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill("SIGKILL");
      await once(c, "exit");
    }
  }
  await rm(dir, { recursive: true, force: true });
});

// A worker process (see _lock_worker.ts) and a way to wait for its output lines.
interface Worker {
  child: ChildProcess;
  line(text: string): Promise<void>;
  go(): void;
  exited: Promise<number | null>;
}

function worker(key: string, label: string, holdMs: number, mode: "run" | "hold"): Worker {
  const child = spawn(
    process.execPath,
    [WORKER, join(dir, "locks"), key, log, label, String(holdMs), mode],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  children.push(child);
  let out = "";
  const waiting: { text: string; resolve: () => void }[] = [];
  child.stdout?.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiting.filter((w) => out.split("\n").includes(w.text))) w.resolve();
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return {
    child,
    exited,
    go: () => child.stdin?.end("go\n"),
    line: (text) =>
      out.split("\n").includes(text)
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            waiting.push({ text, resolve });
            exited.then(() => reject(new Error(`worker ${label} exited before "${text}"`)));
          }),
  };
}

/** The log's lines, and whether every start is followed by its own end before the next start. */
async function runs(): Promise<{ lines: string[]; serial: boolean; labels: string[] }> {
  const lines = (await readFile(log, "utf8")).split("\n").filter((l) => l !== "");
  let serial = lines.length % 2 === 0;
  const labels: string[] = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const [s, label] = (lines[i] as string).split(" ");
    if (s !== "start" || lines[i + 1] !== `end ${label}`) serial = false;
    labels.push(label as string);
  }
  return { lines, serial, labels: labels.sort() };
}

async function fakeOwner(key: string, over: Partial<FileLockOwner>): Promise<string> {
  const path = fileLockPath(join(dir, "locks"), key);
  const lock = await acquireFileLock(join(dir, "locks"), key);
  const owner = { ...lock.owner, token: "someone-else", ...over };
  await writeFile(path, JSON.stringify(owner));
  return path;
}

const timeout = (ms: number): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(ms) });

describe("acquireFileLock", () => {
  it("lets processes contending for one key hold it strictly one at a time", async () => {
    const ws = ["a", "b", "c", "d"].map((l) => worker("shared-key", l, 80, "run"));
    await Promise.all(ws.map((w) => w.line("ready")));
    const started = performance.now();
    for (const w of ws) w.go();
    expect(await Promise.all(ws.map((w) => w.exited))).toEqual([0, 0, 0, 0]);
    const { lines, serial, labels } = await runs();
    expect(lines).toHaveLength(8);
    expect(serial, lines.join("\n")).toBe(true);
    expect(labels).toEqual(["a", "b", "c", "d"]);
    // They did contend: four holds of 80 ms, one after another.
    expect(performance.now() - started).toBeGreaterThanOrEqual(4 * 80);
    expect(await readdir(join(dir, "locks"))).toEqual([]);
  }, 30_000);

  it("takes over a lock whose owner was killed with SIGKILL, one waiter at a time", async () => {
    const holder = worker("k", "holder", 0, "hold");
    await holder.line("ready");
    holder.go();
    await holder.line("held");
    const path = fileLockPath(join(dir, "locks"), "k");
    const held = JSON.parse(await readFile(path, "utf8")) as FileLockOwner;
    expect(held.pid).toBe(holder.child.pid);

    const ws = ["a", "b", "c"].map((l) => worker("k", l, 50, "run"));
    await Promise.all(ws.map((w) => w.line("ready")));
    for (const w of ws) w.go();
    await new Promise((r) => setTimeout(r, 300));
    expect((await runs()).lines).toEqual([]); // all waiting on the live holder
    holder.child.kill("SIGKILL");
    await holder.exited;
    expect(await Promise.all(ws.map((w) => w.exited))).toEqual([0, 0, 0]);
    const { lines, serial, labels } = await runs();
    expect(serial, lines.join("\n")).toBe(true);
    expect(labels).toEqual(["a", "b", "c"]);
    // Nothing left behind: no lock file, no takeover marker.
    expect(await readdir(join(dir, "locks"))).toEqual([]);
  }, 30_000);

  it("takes over a lock left by a killed process in this process too", async () => {
    const holder = worker("k", "holder", 0, "hold");
    await holder.line("ready");
    holder.go();
    await holder.line("held");
    await expect(acquireFileLock(join(dir, "locks"), "k", timeout(200))).rejects.toMatchObject({
      name: "TimeoutError",
    });
    holder.child.kill("SIGKILL");
    await holder.exited;
    const lock = await acquireFileLock(join(dir, "locks"), "k", timeout(5000));
    const now = JSON.parse(await readFile(lock.path, "utf8")) as FileLockOwner;
    expect(now.pid).toBe(process.pid);
    expect(now.token).toBe(lock.owner.token);
    await lock.release();
  }, 30_000);

  it("does not block a key while another process holds a different key", async () => {
    const holder = worker("held-key", "holder", 0, "hold");
    await holder.line("ready");
    holder.go();
    await holder.line("held");
    const t0 = performance.now();
    const other = await acquireFileLock(join(dir, "locks"), "other-key", timeout(2000));
    expect(performance.now() - t0).toBeLessThan(1000);
    await other.release();
    await expect(
      acquireFileLock(join(dir, "locks"), "held-key", timeout(150)),
    ).rejects.toMatchObject({ name: "TimeoutError" });
  }, 30_000);

  it("rejects with the signal's reason when aborted while waiting, leaving the holder's file", async () => {
    const first = await acquireFileLock(join(dir, "locks"), "k");
    const ac = new AbortController();
    const reason = new Error("build cancelled");
    const waiting = acquireFileLock(join(dir, "locks"), "k", { signal: ac.signal });
    setTimeout(() => ac.abort(reason), 50);
    await expect(waiting).rejects.toBe(reason);
    const now = JSON.parse(await readFile(first.path, "utf8")) as FileLockOwner;
    expect(now.token).toBe(first.owner.token);
    await first.release();
    const again = await acquireFileLock(join(dir, "locks"), "k", timeout(1000));
    await again.release();
  });

  it("rejects at once with the reason of an already aborted signal and creates nothing", async () => {
    const reason = new Error("too late");
    await expect(
      acquireFileLock(join(dir, "locks"), "k", { signal: AbortSignal.abort(reason) }),
    ).rejects.toBe(reason);
    await expect(readdir(join(dir, "locks"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("waits for another holder in this process (not reentrant) and gets the key after release", async () => {
    const a = await acquireFileLock(join(dir, "locks"), "k");
    let got = false;
    const b = acquireFileLock(join(dir, "locks"), "k", timeout(5000)).then((l) => {
      got = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toBe(false);
    await a.release();
    const lock = await b;
    expect(lock.owner.token).not.toBe(a.owner.token);
    await lock.release();
  });

  it("names the owner in the lock file, under a hashed name for any key", async () => {
    const key = "../../etc/passwd \u0000 blob sha256:abc";
    const lock = await acquireFileLock(join(dir, "locks"), key);
    expect(lock.path).toBe(fileLockPath(join(dir, "locks"), key));
    expect(await readdir(join(dir, "locks"))).toEqual([lock.path.split("/").at(-1)]);
    expect(lock.path).toMatch(/\/[0-9a-f]{64}\.lock$/);
    const owner = JSON.parse(await readFile(lock.path, "utf8")) as FileLockOwner;
    expect(owner).toMatchObject({ key, pid: process.pid, host: hostname() });
    expect(owner.token).toMatch(/^[0-9a-f]{32}$/);
    await lock.release();
    expect(lock.released).toBe(true);
    await lock.release(); // idempotent
    expect(await readdir(join(dir, "locks"))).toEqual([]);
  });

  it("leaves the file of whoever took the key over when released late", async () => {
    const lock = await acquireFileLock(join(dir, "locks"), "k");
    const theirs = JSON.stringify({ ...lock.owner, token: "theirs" });
    await writeFile(lock.path, theirs);
    await lock.release();
    expect(await readFile(lock.path, "utf8")).toBe(theirs);
  });

  it("takes over a lock of a reused pid (same pid, other start time) and of an earlier boot", async () => {
    await fakeOwner("reused", { start: "1" });
    const a = await acquireFileLock(join(dir, "locks"), "reused", timeout(2000));
    await a.release();
    await fakeOwner("reboot", { boot: "00000000-0000-0000-0000-000000000000" });
    const b = await acquireFileLock(join(dir, "locks"), "reboot", timeout(2000));
    await b.release();
    await fakeOwner("gone", { pid: 2 ** 22 + 12345 }); // above pid_max: no such process
    const c = await acquireFileLock(join(dir, "locks"), "gone", timeout(2000));
    await c.release();
  });

  it("never takes over a lock of a live owner or of another host", async () => {
    await fakeOwner("live", {}); // this process, as another holder
    await expect(acquireFileLock(join(dir, "locks"), "live", timeout(150))).rejects.toMatchObject({
      name: "TimeoutError",
    });
    await fakeOwner("remote", { host: `not-${hostname()}`, pid: 2 ** 22 + 12345 });
    await expect(acquireFileLock(join(dir, "locks"), "remote", timeout(150))).rejects.toMatchObject(
      { name: "TimeoutError" },
    );
  });

  it("waits on a lock file without an owner until it is old, then takes it over", async () => {
    const path = fileLockPath(join(dir, "locks"), "junk");
    await mkdir(join(dir, "locks"));
    await writeFile(path, "not json");
    await expect(acquireFileLock(join(dir, "locks"), "junk", timeout(150))).rejects.toMatchObject({
      name: "TimeoutError",
    });
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    const lock = await acquireFileLock(join(dir, "locks"), "junk", timeout(2000));
    await lock.release();
    expect(await readdir(join(dir, "locks"))).toEqual([]);
  });

  it("rejects an empty directory, an empty key and a bad maxDelayMs", async () => {
    for (const [d, k, o] of [
      ["", "k", {}],
      [join(dir, "locks"), "", {}],
      [join(dir, "locks"), "k", { maxDelayMs: -1 }],
      [join(dir, "locks"), "k", { maxDelayMs: Number.NaN }],
    ] as const) {
      await expect(acquireFileLock(d, k, o)).rejects.toSatisfy(isInvalidArgument);
    }
  });

  it("fails with the file system's error when the directory cannot be made", async () => {
    await writeFile(join(dir, "file"), "x");
    await expect(acquireFileLock(join(dir, "file", "locks"), "k")).rejects.toThrow(
      /cannot acquire lock "k"/,
    );
  });
});
