import type { Descriptor, Digest } from "./_oci.ts";

/** What the store knows about one committed blob. */
export interface Info {
  digest: Digest;
  size: number;
  createdAt: Date;
  updatedAt: Date;
  labels: Record<string, string>;
}

/** The state of one ingest (an in-progress, resumable write) keyed by its ref. */
export interface Status {
  ref: string;
  /** Bytes written so far; a resumed writer continues here. */
  offset: number;
  /** Expected total size, or 0 when not known. */
  total: number;
  /** Expected digest, when the writer was opened with one. */
  expected?: Digest;
  startedAt: Date;
  updatedAt: Date;
}

/**
 * Random access to one blob. `readAt` fills as much of `buffer` as the blob
 * has from `offset` and returns the count: short (possibly 0) at the end.
 */
export interface ReaderAt {
  readonly size: number;
  readAt(buffer: Uint8Array, offset: number): Promise<number>;
  /** Releases the reader; calling it twice is harmless. */
  close(): Promise<void>;
}

/** Opens blobs for reading; only `digest` of the descriptor is required. */
export interface Provider {
  /** @throws {NotFoundError} when the blob is not there. */
  readerAt(
    desc: Pick<Descriptor, "digest"> & { size?: number },
    options?: { signal?: AbortSignal },
  ): Promise<ReaderAt>;
}

/** Options of {@link Ingester.writer}. */
export interface WriterOptions {
  /** Names the ingest; the same ref resumes the same ingest. Must not be empty. */
  ref: string;
  /**
   * The expected blob, when known: its size, and its digest (an existing
   * digest fails fast with AlreadyExists). Either may be absent.
   */
  desc?: { digest?: Descriptor["digest"] | undefined; size?: number | undefined };
  signal?: AbortSignal;
}

/** Options of {@link Writer.commit}. */
export interface CommitOptions {
  labels?: Record<string, string>;
  signal?: AbortSignal;
}

/**
 * One open ingest. Only one writer per ref is open at a time. Close leaves
 * the ingest resumable; commit verifies and publishes the blob and always
 * releases the writer, even when it fails.
 */
export interface Writer {
  readonly ref: string;
  status(): Promise<Status>;
  /**
   * Appends `chunk` at the current offset. Once the promise settles the
   * writer no longer holds `chunk`, so the caller may reuse the buffer.
   */
  write(chunk: Uint8Array, options?: { signal?: AbortSignal }): Promise<void>;
  /** The digest of the bytes written so far. */
  digest(): Digest;
  /**
   * Verifies and publishes the blob. `size` 0 and `expected` undefined mean
   * "not checked".
   *
   * @throws {FailedPreconditionError} on a size or digest mismatch (the ingest is kept).
   * @throws {AlreadyExistsError} when the blob exists (the ingest is removed).
   */
  commit(size: number, expected: Digest | undefined, options?: CommitOptions): Promise<void>;
  /** Cuts the ingest back to `size` bytes (0 restarts it). */
  truncate(size: number): Promise<void>;
  /** Releases the writer, keeping the ingest for a later resume. Idempotent. */
  close(): Promise<void>;
}

/** Opens writers. */
export interface Ingester {
  /**
   * Opens or resumes the ingest named by `options.ref`.
   *
   * @throws {UnavailableError} when another writer holds the ref.
   * @throws {AlreadyExistsError} when `options.desc.digest` is already stored.
   * @throws {InvalidArgumentError} on an empty ref or a malformed digest.
   */
  writer(options: WriterOptions): Promise<Writer>;
}

/** Reads and changes what the store holds. */
export interface Manager {
  /** @throws {NotFoundError} when the blob is not there. */
  info(digest: Digest, options?: { signal?: AbortSignal }): Promise<Info>;
  /**
   * Changes labels. `fieldpaths`: none = replace all labels; `labels` =
   * replace all; `labels.<key>` = set that key (an absent or empty value
   * removes it). Anything else is InvalidArgument.
   */
  update(
    info: Pick<Info, "digest"> & Partial<Pick<Info, "labels">>,
    options?: { fieldpaths?: readonly string[]; signal?: AbortSignal },
  ): Promise<Info>;
  /** Calls `fn` for every blob that passes `filters` (fields `digest`, `size`, `labels.<key>`). */
  walk(
    fn: (info: Info) => void | Promise<void>,
    options?: { filters?: readonly string[]; signal?: AbortSignal },
  ): Promise<void>;
  /** @throws {NotFoundError} when the blob is not there. */
  delete(digest: Digest, options?: { signal?: AbortSignal }): Promise<void>;
}

/** Lists and cancels ingests. */
export interface IngestManager {
  /** @throws {NotFoundError} when there is no ingest for `ref`. */
  status(ref: string, options?: { signal?: AbortSignal }): Promise<Status>;
  /** The ingests that pass `filters` (field `ref`). */
  listStatuses(options?: { filters?: readonly string[]; signal?: AbortSignal }): Promise<Status[]>;
  /** Removes an ingest. @throws {NotFoundError} when there is none for `ref`. */
  abort(ref: string, options?: { signal?: AbortSignal }): Promise<void>;
}

/** A whole content store, as containerd's `content.Store`. */
export interface Store extends Manager, Provider, IngestManager, Ingester {}
