import type { Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError } from "@strata/errdefs";
import { validateLabels } from "@strata/oci";
import { digestOf, newHash, parseDigest } from "./_digest.ts";
import { checkSignal, syncDir, wrapError } from "./_fs.ts";
import { DATA, UPDATED_AT, writeTimestamp } from "./_ingest.ts";
import type { Digest } from "./_oci.ts";
import { type LockHolder, setLockHolder, unlockRef } from "./_ref_lock.ts";
import type { CommitOptions, Status, Writer } from "./content.ts";

/** What a writer needs from its store. */
export interface WriterHost {
  blobPath(algorithm: string, encoded: string): string;
  /** Records labels of a digest about to be committed; empty or undefined clears them. */
  setLabels(digest: Digest, labels: Record<string, string> | undefined): Promise<void>;
  released(writer: LocalWriter): void;
}

export interface WriterState {
  host: WriterHost;
  dir: string;
  lockKey: string;
  ref: string;
  fh: FileHandle;
  offset: number;
  total: number;
  expected: Digest | undefined;
  algorithm: string;
  hash: Hash;
  startedAt: Date;
  updatedAt: Date;
}

/** Hashes the first `length` bytes of `path` with `algorithm`, streaming. */
export async function hashFile(
  path: string,
  algorithm: string,
  length: number | undefined,
  signal: AbortSignal | undefined,
): Promise<{ hash: Hash; size: number }> {
  const hash = newHash(algorithm);
  if (length === 0) return { hash, size: 0 };
  const stream = createReadStream(path, {
    highWaterMark: 1 << 20,
    ...(length === undefined ? {} : { end: length - 1 }),
    ...(signal === undefined ? {} : { signal }),
  });
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { hash, size };
}

/**
 * Bytes gathered before one write to the data file. Writes of 1 MiB cost
 * little more per call than writes of 4 MiB, but batching lets `write`
 * return as soon as the bytes are copied and hashed, while the previous
 * batch is still being written by the thread pool: hashing (main thread),
 * reading by the caller and writing then overlap instead of taking turns.
 */
export const WRITE_BATCH: number = 4 << 20;

/**
 * The local store's writer: one open ingest directory, holding its ref lock.
 *
 * Small writes are copied into a 4 MiB staging buffer and hashed; a full
 * buffer is written in the background while the next one fills (two
 * buffers, one write in flight at a time, in file order). A write of a whole
 * batch or more with nothing staged goes straight from the caller's buffer,
 * hashed while it is in flight, and returns once it is written. So a caller
 * may reuse its buffer as soon as `write` resolves. `offset` and the digest
 * count every accepted byte; commit, close and truncate write what is
 * staged first. A failed background write makes every later call fail with
 * its error; the ingest then holds what reached the file, and reopening it
 * hashes that again.
 */
export class LocalWriter implements Writer, LockHolder {
  readonly ref: string;
  readonly #s: WriterState;
  #closed = false;
  #aborted = false;
  // Serialises write/commit/truncate/close on this writer.
  #tail: Promise<unknown> = Promise.resolve();
  /** The buffer being filled, and the one last handed to a background write. */
  #stage: Buffer | undefined;
  #spare: Buffer | undefined;
  #staged = 0;
  /** Where the next batch goes in the data file (offset minus what is staged). */
  #fileOffset: number;
  #inflight: Promise<void> | undefined;
  #failure: unknown;

  constructor(state: WriterState) {
    this.#s = state;
    this.ref = state.ref;
    this.#fileOffset = state.offset;
    setLockHolder(state.lockKey, this);
  }

  /** Writes all of `data` at `position`, however many calls it takes. */
  async #writeFully(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.#s.fh.write(
        data,
        done,
        data.length - done,
        position + done,
      );
      done += bytesWritten;
    }
  }

  /** Waits for the background write; rethrows the failure of any. */
  async #drain(): Promise<void> {
    if (this.#inflight !== undefined) {
      await this.#inflight;
      this.#inflight = undefined;
    }
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Hands the staged bytes to a background write (after the one in flight). */
  async #flushStage(): Promise<void> {
    const buffer = this.#stage;
    const length = this.#staged;
    if (buffer === undefined || length === 0) return;
    await this.#drain();
    const position = this.#fileOffset;
    this.#fileOffset += length;
    this.#inflight = this.#writeFully(buffer.subarray(0, length), position).catch((err) => {
      this.#failure ??= err;
    });
    // The spare's write finished in #drain above: it is free to fill.
    this.#stage = this.#spare;
    this.#spare = buffer;
    this.#staged = 0;
  }

  /** Writes everything staged and waits for it. */
  async #flushAll(): Promise<void> {
    await this.#flushStage();
    await this.#drain();
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn, fn);
    this.#tail = run.catch(() => {});
    return run;
  }

  #ensureOpen(what: string): void {
    if (this.#aborted) {
      throw new FailedPreconditionError(
        `cannot ${what} ingest ${JSON.stringify(this.ref)}: it was aborted`,
      );
    }
    if (this.#closed) {
      throw new FailedPreconditionError(
        `cannot ${what} ingest ${JSON.stringify(this.ref)}: writer is closed`,
      );
    }
  }

  async status(): Promise<Status> {
    const s = this.#s;
    const status: Status = {
      ref: s.ref,
      offset: s.offset,
      total: s.total,
      startedAt: s.startedAt,
      updatedAt: s.updatedAt,
    };
    if (s.expected !== undefined) status.expected = s.expected;
    return status;
  }

  digest(): Digest {
    return digestOf(this.#s.algorithm, this.#s.hash);
  }

  /**
   * What this open writer has accepted (some of it maybe still staged), for
   * the store's status of its ingest; undefined once it is closed.
   */
  progress(): { offset: number; updatedAt: Date } | undefined {
    if (this.#closed) return undefined;
    return { offset: this.#s.offset, updatedAt: this.#s.updatedAt };
  }

  write(chunk: Uint8Array, options?: { signal?: AbortSignal }): Promise<void> {
    return this.#serial(async () => {
      this.#ensureOpen("write to");
      checkSignal(options?.signal);
      const s = this.#s;
      try {
        if (this.#failure !== undefined) throw this.#failure;
        if (this.#staged === 0 && chunk.length >= WRITE_BATCH) {
          // Big enough on its own: no copy. Hash while the write is in flight,
          // and wait for it, since the caller may reuse the buffer after.
          await this.#drain();
          const writing = this.#writeFully(chunk, this.#fileOffset).catch((err) => {
            // The hash below takes the chunk whole: the writer cannot go on.
            this.#failure ??= err;
          });
          s.hash.update(chunk);
          await writing;
          if (this.#failure !== undefined) throw this.#failure;
          this.#fileOffset += chunk.length;
          s.offset += chunk.length;
          return;
        }
        // Hash first: the previous batch is being written meanwhile.
        s.hash.update(chunk);
        s.offset += chunk.length;
        let done = 0;
        while (done < chunk.length) {
          this.#stage ??= Buffer.allocUnsafeSlow(WRITE_BATCH);
          const n = Math.min(chunk.length - done, WRITE_BATCH - this.#staged);
          this.#stage.set(chunk.subarray(done, done + n), this.#staged);
          this.#staged += n;
          done += n;
          if (this.#staged === WRITE_BATCH) await this.#flushStage();
        }
      } catch (err) {
        throw wrapError(err, `cannot write to ingest ${JSON.stringify(this.ref)}`);
      } finally {
        s.updatedAt = new Date();
      }
    });
  }

  truncate(size: number): Promise<void> {
    return this.#serial(async () => {
      this.#ensureOpen("truncate");
      const s = this.#s;
      if (!Number.isSafeInteger(size) || size < 0 || size > s.offset) {
        throw new InvalidArgumentError(
          `cannot truncate ingest ${JSON.stringify(this.ref)} to ${size}: it has ${s.offset} bytes`,
        );
      }
      await this.#flushAll();
      await s.fh.truncate(size);
      this.#fileOffset = size;
      s.hash = (await hashFile(join(s.dir, DATA), s.algorithm, size, undefined)).hash;
      s.offset = size;
      s.updatedAt = new Date();
    });
  }

  commit(size: number, expected: Digest | undefined, options?: CommitOptions): Promise<void> {
    return this.#serial(() => this.#commit(size, expected, options));
  }

  async #commit(
    size: number,
    expected: Digest | undefined,
    options: CommitOptions | undefined,
  ): Promise<void> {
    this.#ensureOpen("commit");
    const s = this.#s;
    const name = JSON.stringify(this.ref);
    let keepIngest = true;
    // Commit always releases the writer, whatever happens below.
    this.#closed = true;
    try {
      checkSignal(options?.signal);
      if (options?.labels !== undefined)
        validateLabels(options.labels, `cannot commit ingest ${name}`);
      if (!Number.isSafeInteger(size) || size < 0) {
        throw new InvalidArgumentError(`cannot commit ingest ${name}: invalid size ${size}`);
      }
      const want = expected === undefined || (expected as string) === "" ? s.expected : expected;
      const wantParsed =
        want === undefined ? undefined : parseDigest(want, `cannot commit ingest ${name}`);
      await this.#flushAll();
      await s.fh.sync();
      const actualSize = (await s.fh.stat()).size;
      const wantSize = size > 0 ? size : s.total;
      if (wantSize > 0 && wantSize !== actualSize) {
        throw new FailedPreconditionError(
          `cannot commit ingest ${name}: expected size ${wantSize}, got ${actualSize}`,
        );
      }
      let actual = this.digest();
      let algorithm = s.algorithm;
      if (wantParsed !== undefined && wantParsed.algorithm !== s.algorithm) {
        // Asked for another algorithm than the one written with: hash again.
        algorithm = wantParsed.algorithm;
        const rehash = await hashFile(join(s.dir, DATA), algorithm, undefined, options?.signal);
        actual = digestOf(algorithm, rehash.hash);
      }
      if (want !== undefined && want !== actual) {
        throw new FailedPreconditionError(
          `cannot commit ingest ${name}: expected digest ${want}, got ${actual}`,
        );
      }
      const encoded = actual.slice(algorithm.length + 1);
      const target = s.host.blobPath(algorithm, encoded);
      if (await exists(target)) {
        keepIngest = false;
        throw new AlreadyExistsError(`content ${actual}: already exists`);
      }
      // Final attributes go on before the rename, so the blob appears whole,
      // read-only and dated in one step.
      const now = new Date();
      await s.fh.utimes(now, now);
      await s.fh.chmod(0o444);
      await s.fh.sync();
      await s.fh.close();
      await s.host.setLabels(actual, options?.labels);
      await mkdir(dirname(target), { recursive: true, mode: 0o755 });
      await rename(join(s.dir, DATA), target);
      await syncDir(dirname(target));
      keepIngest = false;
    } catch (err) {
      throw wrapError(err, `cannot commit ingest ${name}`);
    } finally {
      await this.#finish(keepIngest);
    }
  }

  async #finish(keepIngest: boolean): Promise<void> {
    const s = this.#s;
    try {
      // A kept ingest keeps every accepted byte (a commit may fail before writing them).
      if (keepIngest) await this.#flushAll().catch(() => {});
      await this.#inflight;
      this.#stage = undefined;
      this.#spare = undefined;
      await s.fh.close().catch(() => {});
      if (keepIngest) {
        await writeTimestamp(join(s.dir, UPDATED_AT), s.updatedAt).catch(() => {});
      } else {
        await rm(s.dir, { recursive: true, force: true });
      }
    } finally {
      unlockRef(s.lockKey, this);
      s.host.released(this);
    }
  }

  close(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      this.#closed = true;
      const s = this.#s;
      try {
        await this.#flushAll();
        await s.fh.sync();
      } finally {
        await this.#finish(true);
      }
    });
  }

  /** Called when the ingest is aborted under this writer: it stops here. */
  onAbort(): void {
    if (this.#closed) return;
    this.#aborted = true;
    this.#closed = true;
    unlockRef(this.#s.lockKey, this);
    this.#s.host.released(this);
    this.#stage = undefined;
    this.#spare = undefined;
    const fh = this.#s.fh;
    void Promise.resolve(this.#inflight)
      .then(() => fh.close())
      .catch(() => {});
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return false;
    throw err;
  }
}
