import { createHash, randomBytes } from "node:crypto";
import { mkdir, open, readFile, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { fromSystemError, InvalidArgumentError } from "@strata/errdefs";

/** Options of {@link acquireFileLock}. */
export interface FileLockOptions {
  /** Aborts the wait: the call then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** The longest pause between two attempts, in milliseconds (default 100). */
  maxDelayMs?: number;
}

/** Who holds a lock: what its lock file says. */
export interface FileLockOwner {
  /** The key as the caller gave it (the file name is its hash). */
  key: string;
  /** Random per acquisition: tells this holding apart from any other. */
  token: string;
  /** The owner's process id. */
  pid: number;
  /** The owner's host name; owners on other hosts are never judged dead. */
  host: string;
  /** The kernel's boot id when the lock was taken (Linux), to tell a reboot. */
  boot?: string;
  /** The owner process's start time in clock ticks since boot (Linux), to tell a reused pid. */
  start?: string;
  /** When the lock was taken (ISO 8601). */
  acquiredAt: string;
}

/** A lock file older than this that holds no owner (a crash while it was being written) is stale. */
const UNREADABLE_STALE_MS = 30_000;
/** A takeover marker older than this belongs to a waiter that died while taking over (it takes microseconds). */
const MARKER_STALE_MS = 30_000;
const MIN_DELAY_MS = 2;
const DEFAULT_MAX_DELAY_MS = 100;

/**
 * A held cross-process lock on one key: a file in the lock directory that
 * names its owner. Release it when done (also on failure).
 */
export class FileLock {
  /** The key this lock holds. */
  readonly key: string;
  /** The lock file. */
  readonly path: string;
  /** What the lock file says: this process and a token of this holding. */
  readonly owner: Readonly<FileLockOwner>;
  #released = false;

  /** @internal Use {@link acquireFileLock}. */
  constructor(path: string, owner: FileLockOwner) {
    this.key = owner.key;
    this.path = path;
    this.owner = owner;
  }

  /** Whether {@link release} was called. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Removes the lock file if it still names this holding (a waiter that
   * judged this process dead may have taken the key over; its file stays).
   * Idempotent.
   *
   * @throws errdefs errors of the file system other than a missing file.
   */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const holder = await readHolder(this.path);
    if (holder.kind !== "owner" || holder.owner.token !== this.owner.token) return;
    await unlinkIfPresent(this.path, `cannot release lock ${JSON.stringify(this.key)}`);
  }

  /** Same as {@link release}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/**
 * The lock file of `key` in `dir`: the key's SHA-256, so any key is a safe
 * file name and no key names another path.
 */
export function fileLockPath(dir: string, key: string): string {
  return join(dir, `${createHash("sha256").update(key, "utf8").digest("hex")}.lock`);
}

/**
 * Takes the cross-process lock of `key` in directory `dir` (created when
 * absent), waiting while another process (or another holder in this one)
 * has it: one holder per key at a time among every process that uses the
 * same directory on this host.
 *
 * The lock is a file created exclusively (`O_EXCL`) that names its owner
 * (pid, host, boot id, process start time, a random token). Waiters poll with
 * a backoff from 2 ms up to `maxDelayMs`. A lock whose owner is dead — same
 * host, and the pid is gone, a zombie, another process (start time differs)
 * or from before a reboot — is taken over; owners on other hosts are never
 * judged. Not reentrant: a holder that asks again for its key waits for itself.
 *
 * @throws {InvalidArgumentError} for an empty `dir` or `key`.
 * @throws the reason of `options.signal` when it aborts before the lock is taken.
 * @throws errdefs errors from the file system (e.g. PermissionDenied on `dir`).
 *
 * @example
 * ```ts
 * const lock = await acquireFileLock("/var/lib/strata/locks", `blob-${id}`, { signal });
 * try {
 *   if (!(await blobExists(id))) await computeBlob(id); // re-check: another process may have done it
 * } finally {
 *   await lock.release();
 * }
 * ```
 */
export async function acquireFileLock(
  dir: string,
  key: string,
  options: FileLockOptions = {},
): Promise<FileLock> {
  if (typeof dir !== "string" || dir === "") {
    throw new InvalidArgumentError("cannot acquire file lock: empty lock directory");
  }
  if (typeof key !== "string" || key === "") {
    throw new InvalidArgumentError(`cannot acquire file lock in ${dir}: empty key`);
  }
  const maxDelay = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
  if (!Number.isFinite(maxDelay) || maxDelay < 0) {
    throw new InvalidArgumentError(
      `cannot acquire file lock ${JSON.stringify(key)}: invalid maxDelayMs ${maxDelay}`,
    );
  }
  const { signal } = options;
  signal?.throwIfAborted();
  const what = `cannot acquire lock ${JSON.stringify(key)} in ${dir}`;
  try {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw fromSystemError(err, what);
  }
  const self = await selfIdentity();
  const owner: FileLockOwner = {
    key,
    token: randomBytes(16).toString("hex"),
    pid: process.pid,
    host: self.host,
    ...(self.boot === undefined ? {} : { boot: self.boot }),
    ...(self.start === undefined ? {} : { start: self.start }),
    acquiredAt: "",
  };
  const path = fileLockPath(dir, key);
  let delay = MIN_DELAY_MS;
  for (;;) {
    signal?.throwIfAborted();
    owner.acquiredAt = new Date().toISOString();
    if (await tryCreate(path, `${JSON.stringify(owner)}\n`, what)) {
      const lock = new FileLock(path, owner);
      if (signal?.aborted) {
        await lock.release();
        throw signal.reason;
      }
      return lock;
    }
    const holder = await readHolder(path);
    if (holder.kind === "gone") continue;
    if (await isStale(holder, self)) {
      if (await takeOver(path, holder, what)) continue;
    }
    await sleep(Math.min(delay, maxDelay) * (0.75 + Math.random() / 2), signal);
    delay *= 2;
  }
}

/** Creates the lock file with `body` unless it exists; true when created. */
async function tryCreate(path: string, body: string, what: string): Promise<boolean> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "wx", 0o644);
  } catch (err) {
    if (errnoOf(err) === "EEXIST") return false;
    throw fromSystemError(err, what);
  }
  let written = false;
  try {
    await fh.writeFile(body, "utf8");
    written = true;
  } catch (err) {
    throw fromSystemError(err, what);
  } finally {
    await fh.close().catch(() => {});
    // A file without its owner would only go stale after a while: remove it now.
    if (!written) await unlink(path).catch(() => {});
  }
  return true;
}

// What a lock file holds when read: nothing (gone), an owner, or bytes that
// are no owner (being written this instant, or left half-written by a crash).
type Holder =
  | { kind: "gone" }
  | { kind: "owner"; owner: FileLockOwner }
  | { kind: "unreadable"; ino: number; mtimeMs: number };

async function readHolder(path: string): Promise<Holder> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return { kind: "gone" };
    throw fromSystemError(err, `cannot read lock file ${path}`);
  }
  const owner = parseOwner(text);
  if (owner !== undefined) return { kind: "owner", owner };
  try {
    const st = await stat(path);
    return { kind: "unreadable", ino: st.ino, mtimeMs: st.mtimeMs };
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return { kind: "gone" };
    throw fromSystemError(err, `cannot stat lock file ${path}`);
  }
}

function parseOwner(text: string): FileLockOwner | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (
    typeof o.key !== "string" ||
    typeof o.token !== "string" ||
    o.token === "" ||
    typeof o.pid !== "number" ||
    !Number.isSafeInteger(o.pid) ||
    o.pid <= 0 ||
    typeof o.host !== "string" ||
    typeof o.acquiredAt !== "string" ||
    (o.boot !== undefined && typeof o.boot !== "string") ||
    (o.start !== undefined && typeof o.start !== "string")
  ) {
    return undefined;
  }
  return o as unknown as FileLockOwner;
}

// Whether the holder can never release: its owner died on this host, or the
// file has held no owner for long.
async function isStale(holder: Holder, self: Identity): Promise<boolean> {
  if (holder.kind === "gone") return false;
  if (holder.kind === "unreadable") return Date.now() - holder.mtimeMs > UNREADABLE_STALE_MS;
  const o = holder.owner;
  if (o.host !== self.host) return false;
  if (o.boot !== undefined && self.boot !== undefined && o.boot !== self.boot) return true;
  try {
    process.kill(o.pid, 0);
  } catch (err) {
    // EPERM: the process exists and belongs to someone else.
    if (errnoOf(err) === "ESRCH") return true;
  }
  const proc = await procStat(o.pid);
  if (proc === undefined) return false;
  // A killed child not yet reaped by its parent still answers kill(pid, 0).
  if (proc.state === "Z" || proc.state === "X") return true;
  return o.start !== undefined && proc.start !== o.start;
}

/**
 * Removes the stale lock file `holder` unless someone else is removing it;
 * true when this waiter removed it (or found it gone) and should retry now.
 *
 * Waiters that judge one lock file stale race for a marker named after that
 * file (its token), created exclusively; only the winner removes the lock
 * file, after re-reading it still is that one. So no waiter ever removes a
 * lock file taken after the stale one was judged.
 */
async function takeOver(path: string, holder: Holder, what: string): Promise<boolean> {
  if (holder.kind === "gone") return true;
  const instance =
    holder.kind === "owner" ? holder.owner.token.replace(/[^A-Za-z0-9]/g, "_") : `ino${holder.ino}`;
  const marker = `${path}.takeover-${instance}`;
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(marker, "wx", 0o644);
  } catch (err) {
    if (errnoOf(err) !== "EEXIST") throw fromSystemError(err, what);
    // Another waiter is taking it over (microseconds), or died doing so long ago.
    try {
      const st = await stat(marker);
      if (Date.now() - st.mtimeMs > MARKER_STALE_MS) await unlink(marker);
    } catch (e) {
      if (errnoOf(e) !== "ENOENT") throw fromSystemError(e, what);
    }
    return false;
  }
  try {
    await fh.close();
    const now = await readHolder(path);
    const same =
      holder.kind === "owner"
        ? now.kind === "owner" && now.owner.token === holder.owner.token
        : now.kind === "unreadable" &&
          now.ino === holder.ino &&
          Date.now() - now.mtimeMs > UNREADABLE_STALE_MS;
    if (same) await unlinkIfPresent(path, what);
    return true;
  } finally {
    await unlink(marker).catch(() => {});
  }
}

async function unlinkIfPresent(path: string, what: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errnoOf(err) !== "ENOENT") throw fromSystemError(err, what);
  }
}

interface Identity {
  host: string;
  boot: string | undefined;
  start: string | undefined;
}

let identity: Promise<Identity> | undefined;

/** This process as lock files name it (read once). */
function selfIdentity(): Promise<Identity> {
  identity ??= (async () => {
    const boot = await readFile("/proc/sys/kernel/random/boot_id", "utf8").then(
      (s) => s.trim() || undefined,
      () => undefined,
    );
    const start = (await procStat(process.pid))?.start;
    return { host: hostname(), boot, start };
  })();
  return identity;
}

/** State and start time of process `pid` from /proc (Linux); undefined when unknown. */
async function procStat(pid: number): Promise<{ state: string; start: string } | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const start = fields[19]; // field 22, starttime
  if (state === undefined || start === undefined || !/^\d+$/.test(start)) return undefined;
  return { state, start };
}

// Node's abortable timer, rejecting with the signal's own reason.
async function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await delay(ms, undefined, signal === undefined ? undefined : { signal });
  } catch (err) {
    throw signal?.aborted ? signal.reason : err;
  }
}

function errnoOf(err: unknown): string | undefined {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : "";
  return typeof code === "string" ? code : undefined;
}
