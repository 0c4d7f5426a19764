import { createHash } from "node:crypto";
import { constants } from "node:fs";
import {
  chmod,
  mkdir,
  open,
  readdir,
  readFile,
  rm,
  stat,
  truncate as truncateFile,
  unlink,
} from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  fromSystemError,
  InvalidArgumentError,
  isNotFound,
  NotFoundError,
} from "@strata/errdefs";
import { objectAdaptor, parseFilters } from "@strata/filters";
import { compactLabels, validateLabels } from "@strata/oci";
import {
  CANONICAL_ALGORITHM,
  isSupportedAlgorithm,
  isValidEncoded,
  makeDigest,
  parseDigest,
} from "./_digest.ts";
import { checkSignal, errnoOf, wrapError, writeFileAtomic } from "./_fs.ts";
import {
  DATA,
  EXPECTED,
  REF,
  readExpected,
  readStatus,
  readTimestamp,
  readTotal,
  STARTED_AT,
  TOTAL,
  UPDATED_AT,
  writeTimestamp,
} from "./_ingest.ts";
import { hashFile, LocalWriter, type WriterHost } from "./_local_writer.ts";
import type { Descriptor, Digest } from "./_oci.ts";
import { holderOf, lockRef, notifyAbort, unlockRef } from "./_ref_lock.ts";
import type { Info, ReaderAt, Status, Store, Writer, WriterOptions } from "./content.ts";
import { FileReaderAt } from "./file_reader_at.ts";

/** Options of {@link LocalStore.open}. */
export interface LocalStoreOptions {
  /**
   * Keep labels (and the time they changed) in `<root>/labels/<alg>/<hex>`.
   * Default true. With false, `update` fails with FailedPrecondition and
   * commit labels are dropped, as containerd's store without a label store;
   * a metadata layer that keeps labels itself should pass false.
   */
  labels?: boolean;
  signal?: AbortSignal;
}

interface LabelRecord {
  labels: Record<string, string>;
  updatedAt: string;
}

/**
 * An ingest's status with what its open writer in this process has accepted
 * but may not have written to the data file yet (see `LocalWriter`).
 */
function withLiveProgress(dir: string, status: Status): Status {
  const holder = holderOf(dir);
  const live = holder instanceof LocalWriter ? holder.progress() : undefined;
  if (live === undefined) return status;
  return {
    ...status,
    offset: live.offset,
    updatedAt: new Date(Math.max(live.updatedAt.getTime(), status.updatedAt.getTime())),
  };
}

/** How many blobs `walk` stats ahead of the one it reports. */
const WALK_WINDOW = 32;

/**
 * containerd's local content store on a directory: committed blobs at
 * `<root>/blobs/<alg>/<hex>` (read-only, so `blobs/` is also an OCI layout's
 * `blobs/`), resumable ingests at `<root>/ingest/<sha256 of ref>/`.
 *
 * Writes stream to the ingest's `data` file and are verified, fsynced and
 * renamed into place on commit; a writer for a ref continues where the last
 * one stopped, also after a crash. One writer per ref at a time in a process.
 *
 * @example
 * ```ts
 * const store = await LocalStore.open("/var/lib/strata/content");
 * await writeBlob(store, "config-1", bytes, { digest, size: bytes.length });
 * const data = await readBlob(store, { digest }, { maxSize: 1 << 20 });
 * ```
 */
export class LocalStore implements Store {
  /** The content root directory (absolute). */
  readonly root: string;
  readonly #labels: boolean;
  readonly #writers = new Set<LocalWriter>();
  #closed = false;
  readonly #host: WriterHost;

  private constructor(root: string, labels: boolean) {
    this.root = root;
    this.#labels = labels;
    this.#host = {
      blobPath: (algorithm, encoded) => join(this.root, "blobs", algorithm, encoded),
      setLabels: (digest, labels) => this.#setLabels(digest, labels),
      released: (writer) => {
        this.#writers.delete(writer);
      },
    };
  }

  /**
   * Opens (creating if needed) a store at `root`.
   *
   * @throws {PermissionDeniedError} and other system errors when the directories cannot be made.
   */
  static async open(root: string, options?: LocalStoreOptions): Promise<LocalStore> {
    checkSignal(options?.signal);
    const abs = resolve(root);
    try {
      await mkdir(join(abs, "ingest"), { recursive: true, mode: 0o755 });
      await mkdir(join(abs, "blobs"), { recursive: true, mode: 0o755 });
    } catch (err) {
      throw fromSystemError(err, `cannot open content store at ${abs}`);
    }
    return new LocalStore(abs, options?.labels ?? true);
  }

  /**
   * Where the blob of `digest` lives (whether or not it is there).
   *
   * @throws {InvalidArgumentError} on a malformed digest or an unsupported algorithm.
   */
  blobPath(digest: Digest): string {
    const { algorithm, encoded } = parseDigest(digest, "cannot compute blob path");
    return join(this.root, "blobs", algorithm, encoded);
  }

  /** Where the ingest of `ref` lives: a hash of the ref, so no ref can name another path. */
  ingestPath(ref: string): string {
    return join(this.root, "ingest", createHash("sha256").update(ref, "utf8").digest("hex"));
  }

  #labelPath(digest: Digest): string {
    const { algorithm, encoded } = parseDigest(digest, "cannot compute label path");
    return join(this.root, "labels", algorithm, encoded);
  }

  #ensureOpen(): void {
    if (this.#closed) throw new FailedPreconditionError(`content store ${this.root} is closed`);
  }

  async #readLabels(digest: Digest): Promise<LabelRecord | undefined> {
    if (!this.#labels) return undefined;
    try {
      const record = JSON.parse(await readFile(this.#labelPath(digest), "utf8")) as LabelRecord;
      return typeof record === "object" && record !== null ? record : undefined;
    } catch (err) {
      if (errnoOf(err) === "ENOENT") return undefined;
      throw fromSystemError(err, `cannot read labels of ${digest}`);
    }
  }

  async #setLabels(digest: Digest, labels: Record<string, string> | undefined): Promise<void> {
    if (!this.#labels) return;
    const path = this.#labelPath(digest);
    const kept = compactLabels(labels ?? {});
    if (Object.keys(kept).length === 0) {
      await rm(path, { force: true });
      return;
    }
    await mkdir(join(path, ".."), { recursive: true, mode: 0o755 });
    const record: LabelRecord = { labels: kept, updatedAt: new Date().toISOString() };
    await writeFileAtomic(path, JSON.stringify(record));
  }

  async #info(digest: Digest, path: string): Promise<Info> {
    const st = await stat(path);
    if (!st.isFile()) throw new FailedPreconditionError(`blob ${digest} is not a regular file`);
    const record = await this.#readLabels(digest);
    const updated = record === undefined ? undefined : new Date(record.updatedAt);
    return {
      digest,
      size: st.size,
      createdAt: st.mtime,
      updatedAt:
        updated !== undefined && !Number.isNaN(updated.getTime()) && updated > st.mtime
          ? updated
          : st.mtime,
      labels: { ...(record?.labels ?? {}) },
    };
  }

  /** @throws {NotFoundError} when the blob is not there. */
  async info(digest: Digest, options?: { signal?: AbortSignal }): Promise<Info> {
    this.#ensureOpen();
    checkSignal(options?.signal);
    const path = this.blobPath(digest);
    try {
      return await this.#info(digest, path);
    } catch (err) {
      throw fromSystemError(err, `content ${digest}`);
    }
  }

  /**
   * Changes the labels of a blob (see {@link Manager.update} for fieldpaths).
   *
   * @throws {NotFoundError} when the blob is not there.
   * @throws {InvalidArgumentError} on a fieldpath other than `labels` / `labels.<key>`, or a label over 4096 bytes.
   * @throws {FailedPreconditionError} when the store was opened with `labels: false`.
   */
  async update(
    info: Pick<Info, "digest"> & Partial<Pick<Info, "labels">>,
    options?: { fieldpaths?: readonly string[]; signal?: AbortSignal },
  ): Promise<Info> {
    this.#ensureOpen();
    checkSignal(options?.signal);
    const digest = info.digest;
    const context = `cannot update content ${digest}`;
    if (!this.#labels) {
      throw new FailedPreconditionError(`${context}: this store keeps no labels`);
    }
    const path = this.blobPath(digest);
    const given = info.labels ?? {};
    let labels: Record<string, string>;
    const fieldpaths = options?.fieldpaths ?? [];
    if (fieldpaths.length === 0 || fieldpaths.includes("labels")) {
      for (const fp of fieldpaths) checkFieldpath(fp, context);
      labels = { ...given };
    } else {
      for (const fp of fieldpaths) checkFieldpath(fp, context);
      try {
        labels = { ...((await this.#readLabels(digest))?.labels ?? {}) };
      } catch (err) {
        throw fromSystemError(err, context);
      }
      for (const fp of fieldpaths) {
        const key = fp.slice("labels.".length);
        const value = Object.hasOwn(given, key) ? given[key] : undefined;
        if (value === undefined || value === "") delete labels[key];
        else labels[key] = value;
      }
    }
    validateLabels(labels, context);
    try {
      await stat(path);
      await this.#setLabels(digest, labels);
      const updated = await this.#info(digest, path);
      return { ...updated, updatedAt: new Date(Math.max(Date.now(), updated.updatedAt.getTime())) };
    } catch (err) {
      throw fromSystemError(err, context);
    }
  }

  /**
   * Calls `fn` for each blob passing `filters` (fields `digest`, `size`,
   * `labels.<key>`), in path order. Files that are not valid blobs are skipped.
   *
   * @throws {InvalidArgumentError} on a bad filter.
   */
  async walk(
    fn: (info: Info) => void | Promise<void>,
    options?: { filters?: readonly string[]; signal?: AbortSignal },
  ): Promise<void> {
    this.#ensureOpen();
    const filter = parseFilters(options?.filters ?? []);
    const blobs = join(this.root, "blobs");
    for (const algorithm of (await readdir(blobs)).sort()) {
      if (!isSupportedAlgorithm(algorithm)) continue;
      let names: string[];
      try {
        names = (await readdir(join(blobs, algorithm))).sort();
      } catch (err) {
        if (errnoOf(err) === "ENOENT" || errnoOf(err) === "ENOTDIR") continue;
        throw fromSystemError(err, `cannot walk ${join(blobs, algorithm)}`);
      }
      const valid = names.filter((encoded) => isValidEncoded(algorithm, encoded));
      // Stat a window of blobs ahead (one stat at a time costs a thread-pool
      // round trip each: ten times slower on a store of many small blobs),
      // still calling fn in path order.
      const ahead: Promise<Info>[] = [];
      const start = (i: number) => {
        const encoded = valid[i] as string;
        const promise = this.#info(makeDigest(algorithm, encoded), join(blobs, algorithm, encoded));
        promise.catch(() => {}); // awaited below, in order
        ahead[i] = promise;
      };
      for (let i = 0; i < Math.min(WALK_WINDOW, valid.length); i++) start(i);
      for (let i = 0; i < valid.length; i++) {
        if (i + WALK_WINDOW < valid.length) start(i + WALK_WINDOW);
        const pending = ahead[i] as Promise<Info>;
        delete ahead[i];
        checkSignal(options?.signal);
        const digest = makeDigest(algorithm, valid[i] as string);
        let info: Info;
        try {
          info = await pending;
        } catch (err) {
          // Deleted while walking, or not a file: not a blob.
          if (
            errnoOf(err) === "ENOENT" ||
            isNotFound(err) ||
            err instanceof FailedPreconditionError
          ) {
            continue;
          }
          throw fromSystemError(err, `cannot walk content ${digest}`);
        }
        const adaptor = objectAdaptor({
          fields: { digest: info.digest, size: String(info.size) },
          labels: info.labels,
        });
        if (filter.match(adaptor)) await fn(info);
      }
    }
  }

  /** Removes a blob (and its labels). @throws {NotFoundError} when it is not there. */
  async delete(digest: Digest, options?: { signal?: AbortSignal }): Promise<void> {
    this.#ensureOpen();
    checkSignal(options?.signal);
    const path = this.blobPath(digest);
    try {
      // unlink, not rm: one system call (GC deletes many blobs in a row).
      await unlink(path);
    } catch (err) {
      throw fromSystemError(err, `cannot delete content ${digest}`);
    }
    if (this.#labels) await rm(this.#labelPath(digest), { force: true });
  }

  /** Opens a blob for reading. @throws {NotFoundError} when it is not there. */
  async readerAt(
    desc: Pick<Descriptor, "digest"> & { size?: number },
    options?: { signal?: AbortSignal },
  ): Promise<ReaderAt> {
    this.#ensureOpen();
    checkSignal(options?.signal);
    return FileReaderAt.open(this.blobPath(desc.digest), desc.digest);
  }

  /** The status of the ingest of `ref`. @throws {NotFoundError} when there is none. */
  async status(ref: string, options?: { signal?: AbortSignal }): Promise<Status> {
    this.#ensureOpen();
    checkSignal(options?.signal);
    let status: Status;
    const dir = this.ingestPath(ref);
    try {
      status = await readStatus(dir);
    } catch (err) {
      throw fromSystemError(err, `ingest ref ${JSON.stringify(ref)}`);
    }
    if (status.ref !== ref) throw new NotFoundError(`ingest ref ${JSON.stringify(ref)}: not found`);
    return withLiveProgress(dir, status);
  }

  /**
   * The ingests passing `filters` (field `ref`); broken or vanishing ones are skipped.
   *
   * @throws {InvalidArgumentError} on a bad filter.
   */
  async listStatuses(options?: {
    filters?: readonly string[];
    signal?: AbortSignal;
  }): Promise<Status[]> {
    this.#ensureOpen();
    const filter = parseFilters(options?.filters ?? []);
    const ingest = join(this.root, "ingest");
    const out: Status[] = [];
    for (const name of (await readdir(ingest)).sort()) {
      checkSignal(options?.signal);
      let status: Status;
      try {
        status = withLiveProgress(join(ingest, name), await readStatus(join(ingest, name)));
      } catch {
        // Committed or aborted while listing, or not an ingest at all.
        continue;
      }
      if (filter.match(objectAdaptor({ fields: { ref: status.ref } }))) out.push(status);
    }
    return out;
  }

  /**
   * Removes the ingest of `ref`; an open writer on it fails from then on.
   *
   * @throws {NotFoundError} when there is no such ingest.
   */
  async abort(ref: string, options?: { signal?: AbortSignal }): Promise<void> {
    this.#ensureOpen();
    checkSignal(options?.signal);
    const dir = this.ingestPath(ref);
    try {
      await stat(dir);
    } catch (err) {
      throw fromSystemError(err, `ingest ref ${JSON.stringify(ref)}`);
    }
    notifyAbort(dir);
    await rm(dir, { recursive: true, force: true });
  }

  /**
   * Opens or resumes the ingest of `options.ref`.
   *
   * @throws {InvalidArgumentError} on an empty ref or a malformed `desc.digest`.
   * @throws {UnavailableError} when a writer on the ref is open (`ref "x" locked …`).
   * @throws {AlreadyExistsError} when `desc.digest` is already stored.
   */
  async writer(options: WriterOptions): Promise<Writer> {
    this.#ensureOpen();
    checkSignal(options.signal);
    const ref = options.ref;
    if (typeof ref !== "string" || ref === "") {
      throw new InvalidArgumentError("cannot open writer: ref must not be empty");
    }
    const name = JSON.stringify(ref.length > 256 ? `${ref.slice(0, 256)}…` : ref);
    const desc = options.desc;
    const wanted =
      desc?.digest === undefined || (desc.digest as string) === ""
        ? undefined
        : parseDigest(desc.digest, `cannot open writer ${name}`);
    const wantedTotal = desc?.size ?? 0;
    if (!Number.isSafeInteger(wantedTotal) || wantedTotal < 0) {
      throw new InvalidArgumentError(`cannot open writer ${name}: invalid size ${wantedTotal}`);
    }
    const dir = this.ingestPath(ref);
    lockRef(dir, ref);
    try {
      if (wanted !== undefined) {
        const target = join(this.root, "blobs", wanted.algorithm, wanted.encoded);
        if (await exists(target)) {
          throw new AlreadyExistsError(`content ${desc?.digest}: already exists`);
        }
      }
      const writer = await this.#openIngest(
        dir,
        ref,
        wanted,
        wanted === undefined ? undefined : desc?.digest,
        wantedTotal,
        options.signal,
      );
      this.#writers.add(writer);
      return writer;
    } catch (err) {
      unlockRef(dir);
      throw wrapError(err, `cannot open writer ${name}`);
    }
  }

  async #openIngest(
    dir: string,
    ref: string,
    wanted: { algorithm: string } | undefined,
    wantedDigest: Digest | undefined,
    wantedTotal: number,
    signal: AbortSignal | undefined,
  ): Promise<LocalWriter> {
    const data = join(dir, DATA);
    let created = true;
    try {
      await mkdir(dir, { mode: 0o755 });
    } catch (err) {
      if (errnoOf(err) !== "EEXIST") throw err;
      created = false;
    }
    if (!created) {
      const resumed = await this.#resume(dir, ref, wanted, wantedDigest, wantedTotal, signal);
      if (resumed !== undefined) return resumed;
    }
    // A new ingest, or one too broken (or too different) to resume: start over.
    const now = new Date();
    await writeFileAtomic(join(dir, REF), ref);
    await writeTimestamp(join(dir, STARTED_AT), now);
    await writeTimestamp(join(dir, UPDATED_AT), now);
    if (wantedTotal > 0) await writeFileAtomic(join(dir, TOTAL), String(wantedTotal));
    else await rm(join(dir, TOTAL), { force: true });
    if (wantedDigest !== undefined) await writeFileAtomic(join(dir, EXPECTED), wantedDigest);
    else await rm(join(dir, EXPECTED), { force: true });
    const fh = await open(data, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
    const algorithm = wanted?.algorithm ?? CANONICAL_ALGORITHM;
    return new LocalWriter({
      host: this.#host,
      dir,
      lockKey: dir,
      ref,
      fh,
      offset: 0,
      total: wantedTotal,
      expected: wantedDigest,
      algorithm,
      hash: createHash(algorithm),
      startedAt: now,
      updatedAt: now,
    });
  }

  // undefined: the ingest cannot be resumed and must be re-initialised.
  async #resume(
    dir: string,
    ref: string,
    wanted: { algorithm: string } | undefined,
    wantedDigest: Digest | undefined,
    wantedTotal: number,
    signal: AbortSignal | undefined,
  ): Promise<LocalWriter | undefined> {
    let storedRef: string;
    let startedAt: Date;
    let updatedAt: Date;
    let total: number;
    let expected: Digest | undefined;
    try {
      storedRef = await readFile(join(dir, REF), "utf8");
      startedAt = await readTimestamp(join(dir, STARTED_AT));
      updatedAt = await readTimestamp(join(dir, UPDATED_AT));
      total = await readTotal(dir);
      expected = await readExpected(dir);
      await stat(join(dir, DATA));
    } catch {
      return undefined;
    }
    if (storedRef !== ref) return undefined;
    if (wantedTotal > 0 && total > 0 && wantedTotal !== total) return undefined;
    if (wantedDigest !== undefined && expected !== undefined && wantedDigest !== expected) {
      return undefined;
    }
    if (wantedTotal > 0 && total === 0) {
      total = wantedTotal;
      await writeFileAtomic(join(dir, TOTAL), String(total));
    }
    if (wantedDigest !== undefined && expected === undefined) {
      expected = wantedDigest;
      await writeFileAtomic(join(dir, EXPECTED), expected);
    }
    const algorithm =
      wanted?.algorithm ??
      (expected === undefined ? undefined : safeAlgorithm(expected)) ??
      CANONICAL_ALGORITHM;
    const path = join(dir, DATA);
    // The digest state is not saved, so the bytes so far are hashed again.
    const { hash, size } = await hashFile(path, algorithm, undefined, signal);
    // Whatever was hashed is the offset; drop anything appended meanwhile.
    // A crash inside commit can leave data already made read-only: undo that.
    await chmod(path, 0o644);
    await truncateFile(path, size);
    const fh = await open(path, constants.O_WRONLY, 0o644);
    const dataMtime = (await fh.stat()).mtime;
    return new LocalWriter({
      host: this.#host,
      dir,
      lockKey: dir,
      ref,
      fh,
      offset: size,
      total,
      expected,
      algorithm,
      hash,
      startedAt,
      updatedAt: dataMtime > updatedAt ? dataMtime : updatedAt,
    });
  }

  /**
   * Closes the writers still open on this store (their ingests stay
   * resumable) and refuses further calls. Readers already handed out stay
   * usable until closed.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#writers].map((w) => w.close()));
  }
}

function checkFieldpath(fieldpath: string, context: string): void {
  if (fieldpath === "labels") return;
  if (fieldpath.startsWith("labels.") && fieldpath.length > "labels.".length) return;
  throw new InvalidArgumentError(`${context}: cannot update field ${JSON.stringify(fieldpath)}`);
}

function safeAlgorithm(digest: Digest): string | undefined {
  try {
    return parseDigest(digest, "").algorithm;
  } catch {
    return undefined;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return false;
    throw err;
  }
}
