import type {
  CommitOptions,
  Info,
  ReaderAt,
  Status,
  Store,
  Writer,
  WriterOptions,
} from "@strata/content";
import {
  AlreadyExistsError,
  InvalidArgumentError,
  isAlreadyExists,
  isNotFound,
  isUnavailable,
  NotFoundError,
  UnavailableError,
} from "@strata/errdefs";
import { objectAdaptor, parseFilters } from "@strata/filters";
import { currentLease, RESOURCE_CONTENT, RESOURCE_INGESTS } from "@strata/leases";
import type { Digest } from "@strata/oci";
import type { Core } from "./_core.ts";
import {
  applyLabelUpdate,
  compactLabels,
  parseLabels,
  validateDigest,
  validateLabels,
  validateNamespace,
} from "./_validate.ts";

/** containerd keeps an unleased ingest for 24 hours, then GC may remove it. */
export const UNLEASED_INGEST_EXPIRY_MS: number = 24 * 60 * 60 * 1000;

interface ContentRow {
  digest: Digest;
  size: number;
  labels: string;
  created_at: number;
  updated_at: number;
}

interface IngestRow {
  ref: string;
  backend_ref: string;
}

/** Options of {@link NamespacedContentStore}. */
export interface NamespacedContentStoreOptions {
  /**
   * Lease that new ingests and committed blobs are added to. Without it the
   * lease set by `withLease` (from `@strata/leases`) is used, if any.
   */
  lease?: string;
}

function toInfo(row: ContentRow): Info {
  return {
    digest: row.digest,
    size: row.size,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    labels: parseLabels(row.labels),
  };
}

/**
 * The content store one namespace sees, as containerd's metadata content
 * store: a blob is visible only through this namespace's record (with its
 * own labels); bytes are stored once in the backend. Delete drops the
 * record; GC removes bytes no namespace records. Get it from
 * `MetadataDB.contentStore(namespace, { lease })`.
 */
export class NamespacedContentStore implements Store {
  readonly namespace: string;
  readonly #core: Core;
  readonly #lease: string | undefined;

  /** @internal Use `MetadataDB.contentStore`. @throws {InvalidArgumentError} on a bad namespace. */
  constructor(core: Core, namespace: string, options?: NamespacedContentStoreOptions) {
    validateNamespace(namespace);
    this.#core = core;
    this.namespace = namespace;
    this.#lease = options?.lease;
  }

  #leaseId(): string | undefined {
    return this.#lease ?? currentLease();
  }

  #row(digest: string): ContentRow | undefined {
    return this.#core.get<ContentRow>(
      "SELECT digest, size, labels, created_at, updated_at FROM content WHERE namespace = ? AND digest = ?",
      this.namespace,
      digest,
    );
  }

  #requireRow(digest: string, context: string): ContentRow {
    validateDigest(digest, context);
    const row = this.#row(digest);
    if (row === undefined) {
      throw new NotFoundError(
        `${context}: content ${digest} not found in namespace "${this.namespace}"`,
      );
    }
    return row;
  }

  /** @throws {NotFoundError} when this namespace has no record of the blob. */
  async info(digest: string, options?: { signal?: AbortSignal }): Promise<Info> {
    options?.signal?.throwIfAborted();
    return toInfo(this.#requireRow(digest, "cannot get info"));
  }

  /**
   * Changes labels (see `Manager.update` for fieldpaths).
   *
   * @throws {NotFoundError} when the blob is not in this namespace.
   * @throws {InvalidArgumentError} on a bad fieldpath or a label over 4096 bytes.
   */
  async update(
    info: Pick<Info, "digest"> & Partial<Pick<Info, "labels">>,
    options?: { fieldpaths?: readonly string[]; signal?: AbortSignal },
  ): Promise<Info> {
    options?.signal?.throwIfAborted();
    const context = `cannot update content ${info.digest}`;
    validateDigest(info.digest, context);
    const row = this.#core.tx(() => {
      const current = this.#requireRow(info.digest, context);
      const labels = applyLabelUpdate(
        parseLabels(current.labels),
        info.labels ?? {},
        options?.fieldpaths ?? [],
        context,
      );
      validateLabels(labels, context);
      const now = Math.max(Date.now(), current.created_at);
      this.#core.run(
        "UPDATE content SET labels = ?, updated_at = ? WHERE namespace = ? AND digest = ?",
        JSON.stringify(labels),
        now,
        this.namespace,
        info.digest,
      );
      return { ...current, labels: JSON.stringify(labels), updated_at: now };
    });
    this.#core.onMutation(false);
    return toInfo(row);
  }

  /**
   * Calls `fn` for each blob of this namespace that passes `filters` (fields
   * `digest`, `size`, `labels.<key>`); stops at the first error of `fn`.
   *
   * @throws {InvalidArgumentError} on a malformed filter.
   */
  async walk(
    fn: (info: Info) => void | Promise<void>,
    options?: { filters?: readonly string[]; signal?: AbortSignal },
  ): Promise<void> {
    const filter = parseFilters(options?.filters ?? []);
    const rows = this.#core.all<ContentRow>(
      "SELECT digest, size, labels, created_at, updated_at FROM content WHERE namespace = ? ORDER BY digest",
      this.namespace,
    );
    for (const row of rows) {
      options?.signal?.throwIfAborted();
      const info = toInfo(row);
      const adaptor = objectAdaptor({
        fields: { digest: info.digest, size: String(info.size) },
        labels: info.labels,
      });
      if (filter.match(adaptor)) await fn(info);
    }
  }

  /**
   * Removes this namespace's record (and the current lease's hold); the bytes
   * go at the next GC if no other namespace records them.
   *
   * @throws {NotFoundError} when the blob is not in this namespace.
   */
  async delete(digest: string, options?: { signal?: AbortSignal }): Promise<void> {
    options?.signal?.throwIfAborted();
    const context = `cannot delete content ${digest}`;
    validateDigest(digest, context);
    const lease = this.#leaseId();
    this.#core.tx(() => {
      const n = this.#core.run(
        "DELETE FROM content WHERE namespace = ? AND digest = ?",
        this.namespace,
        digest,
      );
      if (n === 0)
        throw new NotFoundError(`${context}: not found in namespace "${this.namespace}"`);
      if (lease !== undefined) {
        this.#core.run(
          "DELETE FROM lease_resources WHERE namespace = ? AND lease = ? AND type = ? AND id = ?",
          this.namespace,
          lease,
          RESOURCE_CONTENT,
          digest,
        );
      }
    });
    this.#core.onMutation(true);
  }

  /** @throws {NotFoundError} when the blob is not in this namespace; {InvalidArgumentError} on a bad digest. */
  async readerAt(
    desc: { digest: string; size?: number },
    options?: { signal?: AbortSignal },
  ): Promise<ReaderAt> {
    validateDigest(desc.digest, "cannot read content");
    this.#requireRow(desc.digest, "cannot read content");
    return this.#core.backend.readerAt({ digest: desc.digest }, options);
  }

  #ingest(ref: string): IngestRow | undefined {
    return this.#core.get<IngestRow>(
      "SELECT ref, backend_ref FROM ingests WHERE namespace = ? AND ref = ?",
      this.namespace,
      ref,
    );
  }

  /** @throws {NotFoundError} when this namespace has no ingest `ref`. */
  async status(ref: string, options?: { signal?: AbortSignal }): Promise<Status> {
    const row = this.#ingest(ref);
    const missing = () =>
      new NotFoundError(`ingest "${ref}" in namespace "${this.namespace}": not found`);
    if (row === undefined) throw missing();
    try {
      return { ...(await this.#core.backend.status(row.backend_ref, options)), ref };
    } catch (err) {
      if (isNotFound(err)) throw missing();
      throw err;
    }
  }

  /** This namespace's ingests that pass `filters` (field `ref`). @throws {InvalidArgumentError} on a bad filter. */
  async listStatuses(options?: {
    filters?: readonly string[];
    signal?: AbortSignal;
  }): Promise<Status[]> {
    const filter = parseFilters(options?.filters ?? []);
    const rows = this.#core.all<IngestRow>(
      "SELECT ref, backend_ref FROM ingests WHERE namespace = ? ORDER BY ref",
      this.namespace,
    );
    const out: Status[] = [];
    for (const row of rows) {
      options?.signal?.throwIfAborted();
      if (!filter.match(objectAdaptor({ fields: { ref: row.ref } }))) continue;
      try {
        out.push({ ...(await this.#core.backend.status(row.backend_ref)), ref: row.ref });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return out;
  }

  /** Removes an ingest (cancelling its open writer). @throws {NotFoundError} when there is none. */
  async abort(ref: string, options?: { signal?: AbortSignal }): Promise<void> {
    options?.signal?.throwIfAborted();
    const row = this.#core.tx(() => {
      const row = this.#ingest(ref);
      if (row === undefined) {
        throw new NotFoundError(
          `cannot abort ingest "${ref}": not found in namespace "${this.namespace}"`,
        );
      }
      this.#core.run("DELETE FROM ingests WHERE namespace = ? AND ref = ?", this.namespace, ref);
      this.#core.run(
        "DELETE FROM lease_resources WHERE namespace = ? AND type = ? AND id = ?",
        this.namespace,
        RESOURCE_INGESTS,
        ref,
      );
      return row;
    });
    this.#core.onMutation(true);
    try {
      await this.#core.backend.abort(row.backend_ref);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /**
   * Opens or resumes ingest `ref` of this namespace, held by the lease (or
   * kept 24 h without one). When `desc.digest` is already in this namespace,
   * or only in the backend (then a record is created, sharing the bytes),
   * the lease takes the blob and the call fails with AlreadyExists.
   *
   * @throws {AlreadyExistsError} as above.
   * @throws {NotFoundError} when the lease does not exist.
   * @throws {InvalidArgumentError} on an empty ref or a malformed digest.
   * @throws {UnavailableError} when another writer holds the ref.
   */
  async writer(options: WriterOptions): Promise<Writer> {
    options.signal?.throwIfAborted();
    const { ref, desc } = options;
    if (typeof ref !== "string" || ref === "") {
      throw new InvalidArgumentError("cannot open writer: ref must not be empty");
    }
    const digest = desc?.digest ?? "";
    if (digest !== "") validateDigest(digest, `cannot open writer "${ref}"`);
    const lease = this.#leaseId();
    const core = this.#core;
    const ns = this.namespace;
    if (lease !== undefined) core.requireLease(ns, lease);

    const release = await core.lock.shared();
    try {
      if (digest !== "") {
        const shared = await this.#shareExisting(digest, desc?.size ?? 0, lease);
        if (shared) {
          throw new AlreadyExistsError(`content ${digest} in namespace "${ns}": already exists`);
        }
      }
      const backendRef = `${ns}/${ref}`;
      core.tx(() => {
        core.ensureNamespace(ns);
        if (lease !== undefined) core.requireLease(ns, lease);
        const now = Date.now();
        core.run(
          `INSERT INTO ingests (namespace, ref, backend_ref, expires_at, created_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (namespace, ref) DO UPDATE SET expires_at = excluded.expires_at`,
          ns,
          ref,
          backendRef,
          lease === undefined ? now + UNLEASED_INGEST_EXPIRY_MS : null,
          now,
        );
        if (lease !== undefined) core.addLeaseResource(ns, lease, RESOURCE_INGESTS, ref);
      });
      core.onMutation(false);
      let inner: Writer;
      try {
        inner = await core.backend.writer({
          ref: backendRef,
          ...(desc === undefined ? {} : { desc }),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        });
      } catch (err) {
        if (isUnavailable(err)) {
          // Say the caller's ref, not the backend's.
          const message = (err as Error).message.replace(
            JSON.stringify(backendRef),
            JSON.stringify(ref),
          );
          throw new UnavailableError(message, { cause: err });
        }
        throw err;
      }
      return new NamespacedWriter(this, core, inner, ref, lease);
    } finally {
      release();
    }
  }

  // Records a blob the backend already has (or this namespace already has)
  // and leases it. Returns whether the caller should see AlreadyExists.
  async #shareExisting(digest: Digest, size: number, lease: string | undefined): Promise<boolean> {
    const core = this.#core;
    const ns = this.namespace;
    if (this.#row(digest) === undefined) {
      let backendSize: number;
      try {
        backendSize = (await core.backend.info(digest)).size;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
      if (size > 0 && size !== backendSize) return false;
      core.tx(() => {
        // The lease may have gone while the backend was asked.
        if (lease !== undefined) core.requireLease(ns, lease);
        core.ensureNamespace(ns);
        const now = Date.now();
        core.run(
          "INSERT OR IGNORE INTO content (namespace, digest, size, labels, created_at, updated_at) VALUES (?, ?, ?, '{}', ?, ?)",
          ns,
          digest,
          backendSize,
          now,
          now,
        );
        if (lease !== undefined) core.addLeaseResource(ns, lease, RESOURCE_CONTENT, digest);
      });
    } else if (lease !== undefined) {
      core.tx(() => {
        core.requireLease(ns, lease);
        core.addLeaseResource(ns, lease, RESOURCE_CONTENT, digest);
      });
    }
    core.onMutation(false);
    return true;
  }

  /** @internal Called by the writer after the backend committed. Returns false when the record existed. */
  recordCommit(
    digest: string,
    size: number,
    labels: Record<string, string>,
    ref: string,
    lease: string | undefined,
  ): boolean {
    const core = this.#core;
    const ns = this.namespace;
    const created = core.tx(() => {
      core.ensureNamespace(ns);
      const now = Date.now();
      const n = core.run(
        "INSERT OR IGNORE INTO content (namespace, digest, size, labels, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        ns,
        digest,
        size,
        JSON.stringify(compactLabels(labels)),
        now,
        now,
      );
      core.run("DELETE FROM ingests WHERE namespace = ? AND ref = ?", ns, ref);
      core.run(
        "DELETE FROM lease_resources WHERE namespace = ? AND type = ? AND id = ?",
        ns,
        RESOURCE_INGESTS,
        ref,
      );
      if (lease !== undefined) {
        const exists = core.get(
          "SELECT 1 AS x FROM leases WHERE namespace = ? AND id = ?",
          ns,
          lease,
        );
        if (exists !== undefined) core.addLeaseResource(ns, lease, RESOURCE_CONTENT, digest);
      }
      return n > 0;
    });
    core.onMutation(false);
    return created;
  }
}

class NamespacedWriter implements Writer {
  readonly ref: string;
  readonly #store: NamespacedContentStore;
  readonly #core: Core;
  readonly #inner: Writer;
  readonly #lease: string | undefined;

  constructor(
    store: NamespacedContentStore,
    core: Core,
    inner: Writer,
    ref: string,
    lease: string | undefined,
  ) {
    this.#store = store;
    this.#core = core;
    this.#inner = inner;
    this.ref = ref;
    this.#lease = lease;
  }

  async status(): Promise<Status> {
    return { ...(await this.#inner.status()), ref: this.ref };
  }

  write(chunk: Uint8Array, options?: { signal?: AbortSignal }): Promise<void> {
    return this.#inner.write(chunk, options);
  }

  digest(): Digest {
    return this.#inner.digest();
  }

  truncate(size: number): Promise<void> {
    return this.#inner.truncate(size);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  async commit(size: number, expected: Digest | undefined, options?: CommitOptions): Promise<void> {
    const context = `cannot commit ingest "${this.ref}"`;
    const labels = compactLabels(options?.labels ?? {});
    validateLabels(labels, context);
    const release = await this.#core.lock.shared();
    try {
      const digest =
        expected !== undefined && (expected as string) !== "" ? expected : this.#inner.digest();
      let committedSize = size;
      try {
        const status = await this.#inner.status();
        committedSize = status.offset;
        await this.#inner.commit(
          size,
          expected,
          options?.signal === undefined ? undefined : { signal: options.signal },
        );
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        committedSize = (await this.#core.backend.info(digest)).size;
      }
      if (!this.#store.recordCommit(digest, committedSize, labels, this.ref, this.#lease)) {
        throw new AlreadyExistsError(
          `${context}: content ${digest} already exists in namespace "${this.#store.namespace}"`,
        );
      }
    } finally {
      release();
    }
  }
}
