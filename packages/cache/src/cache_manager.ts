import {
  type Compression,
  compressionOfMediaType,
  convert,
  ESTARGZ_TOC_DIGEST_ANNOTATION,
  ESTARGZ_UNCOMPRESSED_SIZE_ANNOTATION,
} from "@strata/compression";
import { copy, openWriter, type Provider, type ReaderAt, readerStream } from "@strata/content";
import {
  applyLayer,
  diffDirectories,
  diffOverlay,
  type MergeDiff,
  mergeCapabilities,
  mergeSnapshots,
  writeLayer,
} from "@strata/diff";
import {
  DataLossError,
  FailedPreconditionError,
  InvalidArgumentError,
  isAlreadyExists,
  isFailedPrecondition,
  isNotFound,
  isNotImplemented,
  NotFoundError,
} from "@strata/errdefs";
import { acquireFileLock, Group } from "@strata/flightcontrol";
import {
  RESOURCE_CONTENT,
  RESOURCE_SNAPSHOTS_PREFIX,
  withLease,
  withTemporaryLease,
} from "@strata/leases";
import {
  type CacheRecord,
  CacheRecordStore,
  type MetadataDB,
  type MetadataLeaseManager,
  type NamespacedContentStore,
  NamespacedSnapshotter,
  newCacheRecord,
} from "@strata/metadata";
import { type Descriptor, type Digest, isDigest, LABEL_UNCOMPRESSED } from "@strata/oci";
import { type Mount, readonlyMounts, type Snapshotter } from "@strata/snapshots";
import { activeUpperdir, upperdirOf, withDirectory } from "./_dirs.ts";
import { blobID, chainOf, newID } from "./_ids.ts";
import { diskUsage } from "./disk_usage.ts";
import {
  ANNOTATION_CREATED_AT,
  LABEL_BLOB_ANNOTATION_PREFIX,
  LABEL_BLOB_MEDIA_TYPE,
  LABEL_BLOB_VARIANT_PREFIX,
  LABEL_GC_FLAT,
} from "./labels.ts";
import { prune } from "./prune.ts";
import { ImmutableRef, MutableRef, type RefOwner } from "./refs.ts";
import type {
  CacheStats,
  DiskSpace,
  DiskUsageOptions,
  GetByBlobOptions,
  GetRemotesOptions,
  NewRefOptions,
  PruneOptions,
  Remote,
  RemoteOptions,
  UsageInfo,
} from "./types.ts";

/** Options of {@link CacheManager.open}. */
export interface CacheManagerOptions {
  /** The metadata database: records, leases, content store and GC. */
  db: MetadataDB;
  /**
   * The namespace of records, leases and content (default: the namespaced
   * snapshotter's, else "default").
   */
  namespace?: string;
  /**
   * The snapshotter holding the refs' trees: `db.snapshotter(ns, name)`
   * (namespaced and GC-aware; recommended), or a backend snapshotter of
   * `@strata/snapshots` that is NOT registered in the database (GC would
   * delete its snapshots, which no namespace records).
   */
  snapshotter: Snapshotter;
  /** Its name (`overlayfs`, `native`, ...): the lease resource type and the differ choice. */
  snapshotterName: string;
  /** Free and total bytes of the cache's disk, for `minFreeSpace` policies. */
  diskSpace?: () => Promise<DiskSpace>;
  /**
   * A directory of cross-process locks (`acquireFileLock` of
   * `@strata/flightcontrol`), shared by every manager of the same database
   * on this host (an embedded root's `locks/`). With it, computing a blob,
   * converting it, fetching a lazy blob, extracting and finalizing a ref
   * each take the lock of their key inside the in-process flight and then
   * re-read the database, so the processes of one root do each piece of work
   * once. Without it, only callers in this process share work.
   */
  locksDir?: string;
}

const signalOf = (options: { signal?: AbortSignal }): { signal?: AbortSignal } =>
  options.signal === undefined ? {} : { signal: options.signal };

/** Annotations of a descriptor kept on the blob's labels (BuildKit's whitelist). */
const SAVED_ANNOTATIONS = [
  LABEL_UNCOMPRESSED,
  ESTARGZ_TOC_DIGEST_ANNOTATION,
  ESTARGZ_UNCOMPRESSED_SIZE_ANNOTATION,
];

/**
 * BuildKit's cache manager: mutable and immutable refs over snapshots,
 * their records in the metadata database, blob chains computed lazily with
 * chain IDs and blob chain IDs, compression variants, lazy refs from remote
 * blobs, disk usage and prune. Every record is held by its own lease, so the
 * garbage collector never takes what a record uses.
 *
 * @example
 * ```ts
 * const cm = await CacheManager.open({ db, snapshotter, snapshotterName: "overlayfs" });
 * const m = await cm.new(undefined, { description: "build step 1" });
 * await withMounts(await m.mount(), (dir) => writeFile(`${dir}/hello`, "hi"));
 * const ref = await m.commit();
 * const [remote] = await cm.getRemotes(ref, { compression: "zstd" });
 * await ref.release();
 * ```
 */
export class CacheManager implements RefOwner {
  /** The namespace of records, leases and content. */
  readonly namespace: string;
  /** The records. */
  readonly records: CacheRecordStore;
  /** The content store of the namespace (reads and label updates). */
  readonly content: NamespacedContentStore;
  readonly #db: MetadataDB;
  readonly #leases: MetadataLeaseManager;
  readonly #sn: Snapshotter;
  readonly #snName: string;
  readonly #handles = new Map<string, number>();
  readonly #providers = new Map<string, Provider>();
  readonly #stats: CacheStats = {
    differRuns: 0,
    overlayDiffs: 0,
    fetches: 0,
    conversions: 0,
    extractions: 0,
    merges: 0,
  };
  readonly #blobG = new Group<void>();
  readonly #finalizeG = new Group<void>();
  readonly #unlazyG = new Group<void>();
  readonly #fetchG = new Group<void>();
  readonly #compG = new Group<Descriptor>();
  readonly #sizeG = new Group<number>();
  readonly #diskSpace: (() => Promise<DiskSpace>) | undefined;
  readonly #locksDir: string | undefined;
  #pruning: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(options: CacheManagerOptions, namespace: string) {
    this.namespace = namespace;
    this.#db = options.db;
    this.records = CacheRecordStore.open(options.db, namespace);
    this.content = options.db.contentStore(namespace);
    this.#leases = options.db.leases(namespace);
    this.#sn = options.snapshotter;
    this.#snName = options.snapshotterName;
    this.#diskSpace = options.diskSpace;
    this.#locksDir = options.locksDir;
  }

  /**
   * Opens the cache of `namespace`, finishing what a crash left: records
   * tombstoned for deletion are removed, mutable records that are neither
   * retained nor committed are dropped, and so are records whose snapshot
   * vanished while nothing else can restore them.
   *
   * @throws {InvalidArgumentError} on a bad namespace, an empty snapshotter
   *   name or lock directory, or a namespaced snapshotter whose namespace or name differ from the options'.
   */
  static async open(options: CacheManagerOptions): Promise<CacheManager> {
    if (options.snapshotterName === "") {
      throw new InvalidArgumentError("cannot open cache manager: empty snapshotter name");
    }
    if (options.locksDir === "") {
      throw new InvalidArgumentError("cannot open cache manager: empty lock directory");
    }
    const sn = options.snapshotter;
    let namespace = options.namespace ?? "default";
    if (sn instanceof NamespacedSnapshotter) {
      if (options.namespace !== undefined && options.namespace !== sn.namespace) {
        throw new InvalidArgumentError(
          `cannot open cache manager: namespace "${options.namespace}" differs from the snapshotter's namespace "${sn.namespace}"`,
        );
      }
      if (sn.name !== options.snapshotterName) {
        throw new InvalidArgumentError(
          `cannot open cache manager: snapshotter name "${options.snapshotterName}" differs from the snapshotter's name "${sn.name}"`,
        );
      }
      namespace = sn.namespace;
    }
    const cm = new CacheManager(options, namespace);
    await cm.#recover();
    return cm;
  }

  /** Counters of differ runs, fetches, conversions and extractions. */
  get stats(): Readonly<CacheStats> {
    return { ...this.#stats };
  }

  /** The snapshotter's name. */
  get snapshotterName(): string {
    return this.#snName;
  }

  /** The snapshotter. */
  get snapshotter(): Snapshotter {
    return this.#sn;
  }

  /** The metadata database (disk usage looks at its leases and namespaces). */
  get db(): MetadataDB {
    return this.#db;
  }

  /** Whether any handle of record `id` is open. */
  inUse(id: string): boolean {
    return (this.#handles.get(id) ?? 0) > 0;
  }

  // ---------------------------------------------------------------- refs

  /**
   * A new mutable ref: an active snapshot on `parent` (finalized and
   * extracted first), or an empty one.
   *
   * A merge or diff parent is built into a snapshot first.
   *
   * @throws {FailedPreconditionError} when `parent` is released or its lazy blobs cannot be fetched.
   */
  async new(parent: ImmutableRef | undefined, options: NewRefOptions = {}): Promise<MutableRef> {
    this.#open();
    let parentRecord: CacheRecord | undefined;
    if (parent !== undefined) {
      if (parent.released) {
        throw new FailedPreconditionError(`cannot create ref on parent ${parent.id}: released`);
      }
      await this.finalizeRef(parent.id, options);
      await this.extractRef(parent.id, options);
      parentRecord = this.record(parent.id);
    }
    const id = newID();
    await this.#createLease(id, true);
    try {
      await withLease(id, () =>
        this.#sn.prepare(id, parentRecord?.snapshotID ?? "", signalOf(options)),
      );
      await this.#addSnapshot(id, id);
      this.records.put({
        ...this.#blankRecord(id),
        kind: parentRecord === undefined ? "base" : "layer",
        committed: false,
        ...(parentRecord === undefined ? {} : { parent: parentRecord.id }),
        cachePolicy: options.cachePolicy ?? "default",
        recordType: options.recordType ?? "regular",
        description: options.description ?? "",
      });
    } catch (err) {
      await this.#sn.remove(id).catch(() => {});
      await this.#deleteLease(id);
      throw err;
    }
    return this.#openMutable(id);
  }

  /**
   * An immutable ref on record `id`. For a mutable record that nothing
   * holds, returns its committed twin or commits it.
   *
   * @throws {NotFoundError} for an unknown or deleted record.
   * @throws {FailedPreconditionError} for a mutable record in use (locked).
   */
  async get(id: string, options: { signal?: AbortSignal } = {}): Promise<ImmutableRef> {
    this.#open();
    options.signal?.throwIfAborted();
    const r = this.#live(id);
    if (r.committed) return this.openImmutable(id);
    if (this.inUse(id)) {
      throw new FailedPreconditionError(`cannot get ref ${id}: mutable record is locked`);
    }
    const twin = this.records.children(id).find((c) => c.equalMutable === id && !c.deleted);
    if (twin !== undefined) return this.openImmutable(twin.id);
    return this.#commit(id);
  }

  /**
   * Re-opens a retained mutable record (a cache mount). A committed twin that
   * nothing holds is removed first.
   *
   * @throws {NotFoundError} for an unknown record. @throws {FailedPreconditionError} when it is in use or immutable.
   */
  async getMutable(id: string, options: { signal?: AbortSignal } = {}): Promise<MutableRef> {
    this.#open();
    options.signal?.throwIfAborted();
    const r = this.#live(id);
    if (r.committed) throw new FailedPreconditionError(`cannot get mutable ref ${id}: committed`);
    if (this.inUse(id)) throw new FailedPreconditionError(`cannot get mutable ref ${id}: locked`);
    for (const twin of this.records.children(id)) {
      if (twin.equalMutable !== id) continue;
      if (this.inUse(twin.id)) {
        throw new FailedPreconditionError(
          `cannot get mutable ref ${id}: its committed ref ${twin.id} is in use`,
        );
      }
      this.records.update(twin.id, (t) => {
        delete t.equalMutable;
      });
      await this.#removeRecord(twin.id);
    }
    return this.#openMutable(id);
  }

  /**
   * A ref for a layer blob (the import path): lazy until mounted or needed,
   * fetched from `options.provider` when absent from the content store.
   * Reuses a record with the same blob chain ID, and the snapshot of a
   * record with the same chain ID.
   *
   * @throws {InvalidArgumentError} when the descriptor lacks a valid `containerd.io/uncompressed` annotation.
   * @throws {FailedPreconditionError} when the blob is absent and no provider is given, or the parent has no chain IDs.
   */
  async getByBlob(desc: Descriptor, options: GetByBlobOptions = {}): Promise<ImmutableRef> {
    this.#open();
    options.signal?.throwIfAborted();
    const diffID = desc.annotations?.[LABEL_UNCOMPRESSED];
    if (diffID === undefined || !isDigest(diffID)) {
      throw new InvalidArgumentError(
        `cannot get ref by blob ${desc.digest}: missing or invalid ${LABEL_UNCOMPRESSED} annotation`,
      );
    }
    if (!isDigest(desc.digest)) {
      throw new InvalidArgumentError(`cannot get ref by blob: invalid digest ${desc.digest}`);
    }
    if (options.provider === undefined && this.#providers.get(desc.digest) === undefined) {
      try {
        await this.content.info(desc.digest, signalOf(options));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        throw new FailedPreconditionError(
          `cannot get ref by blob ${desc.digest}: not in the content store and no remote provider given`,
          { cause: err },
        );
      }
    }
    let chainID: Digest = diffID;
    let blobChainID = blobID(desc.digest, diffID);
    let parent: CacheRecord | undefined;
    if (options.parent !== undefined) {
      parent = this.#live(options.parent.id);
      if (parent.chainID === undefined || parent.blobChainID === undefined) {
        throw new FailedPreconditionError(
          `cannot get ref by blob ${desc.digest}: parent ${parent.id} is not addressable (no chain ID)`,
        );
      }
      chainID = chainOf(parent.chainID, chainID);
      blobChainID = chainOf(parent.blobChainID, blobChainID);
      await this.finalizeRef(parent.id, options);
    }
    if (options.provider !== undefined) this.#providers.set(desc.digest, options.provider);
    const same = this.records.byBlobChainID(blobChainID).find((r) => r.committed && !r.deleted);
    if (same !== undefined) return this.openImmutable(same.id);
    const sameChain = this.records.byChainID(chainID).find((r) => r.committed && !r.deleted);
    const snapshotID = sameChain?.snapshotID ?? chainID;
    const id = newID();
    await this.#createLease(id, true);
    try {
      await this.#addSnapshot(id, snapshotID);
      await this.#leases.addResource({ id }, { type: RESOURCE_CONTENT, id: desc.digest });
      this.records.put({
        ...this.#blankRecord(id),
        kind: parent === undefined ? "base" : "layer",
        ...(parent === undefined ? {} : { parent: parent.id }),
        snapshotID,
        blob: desc.digest,
        diffID,
        chainID,
        blobChainID,
        mediaType: desc.mediaType,
        blobSize: desc.size,
        blobOnly: true,
        urls: [...(desc.urls ?? [])],
        imageRefs: [...(options.imageRefs ?? [])],
        description:
          options.description ??
          `pulled from ${options.imageRefs?.[0] ?? desc.digest}`.replace(/ $/, ""),
      });
    } catch (err) {
      await this.#deleteLease(id);
      throw err;
    }
    return this.openImmutable(id);
  }

  /**
   * A merge ref: the inputs' layers stacked in order (BuildKit's Merge;
   * merges are flattened, one input gives that input). Nothing is copied
   * now: the snapshot is built on mount (hardlinks on native and overlayfs,
   * reusing a leading parent chain on overlayfs), and its layer chain is the
   * concatenation of the inputs' chains, reusing their blobs.
   *
   * @throws {InvalidArgumentError} for no inputs. @throws {FailedPreconditionError} for a released input.
   */
  async merge(
    inputs: readonly ImmutableRef[],
    options: { description?: string; signal?: AbortSignal } = {},
  ): Promise<ImmutableRef> {
    this.#open();
    if (inputs.length === 0) throw new InvalidArgumentError("cannot merge no refs");
    const ids: string[] = [];
    for (const input of inputs) {
      if (input.released) throw new FailedPreconditionError(`cannot merge ${input.id}: released`);
      const r = this.#live(input.id);
      if (r.kind === "merge") ids.push(...r.mergeParents);
      else ids.push(r.id);
    }
    return this.#mergeIDs(ids, options);
  }

  async #mergeIDs(
    ids: readonly string[],
    options: { description?: string; signal?: AbortSignal },
  ): Promise<ImmutableRef> {
    if (ids.length === 1) return this.openImmutable(ids[0] as string);
    for (const id of ids) await this.finalizeRef(id, options);
    const id = newID();
    await this.#createLease(id, true);
    this.records.put({
      ...this.#blankRecord(id),
      kind: "merge",
      mergeParents: [...ids],
      description:
        options.description ??
        `merge ${ids.map((p) => this.record(p).description || p).join(" + ")}`,
    });
    return this.openImmutable(id);
  }

  /**
   * A diff ref: the changes that turn `lower` (undefined: scratch) into
   * `upper` (BuildKit's Diff). Mounting it gives a snapshot of those changes.
   * When `upper` is `lower` plus exactly one layer, the diff's layer is the
   * upper's blob; when `lower` is an ancestor of `upper` by more layers, the
   * diff is a merge of per-layer diffs (each reusing its blob); otherwise
   * its one layer is computed from `lower` to `upper` on demand.
   *
   * @throws {FailedPreconditionError} for a released input. @throws {NotFoundError} for a removed one.
   */
  async diff(
    lower: ImmutableRef | undefined,
    upper: ImmutableRef,
    options: { description?: string; signal?: AbortSignal } = {},
  ): Promise<ImmutableRef> {
    this.#open();
    for (const ref of lower === undefined ? [upper] : [lower, upper]) {
      if (ref.released) throw new FailedPreconditionError(`cannot diff ${ref.id}: released`);
    }
    const u = this.#live(upper.id);
    const l = lower === undefined ? undefined : this.#live(lower.id);
    // Layers of upper above lower, when lower is an ancestor through layer parents.
    const above: CacheRecord[] = [];
    let cursor: CacheRecord | undefined = u;
    while (cursor !== undefined && cursor.id !== l?.id) {
      if (cursor.kind !== "base" && cursor.kind !== "layer") break;
      above.unshift(cursor);
      cursor = cursor.parent === undefined ? undefined : this.record(cursor.parent);
    }
    const ancestor = l === undefined ? cursor === undefined : cursor?.id === l.id;
    if (ancestor && above.length > 1) {
      const parts: ImmutableRef[] = [];
      try {
        for (const layer of above) {
          const p = layer.parent === undefined ? undefined : this.record(layer.parent);
          parts.push(await this.#diffRecord(p, layer, {}));
        }
        return await this.#mergeIDs(
          parts.map((p) => p.id),
          {
            description:
              options.description ??
              `diff ${l?.description || l?.id || "scratch"} -> ${u.description || u.id}`,
            ...signalOf(options),
          },
        );
      } finally {
        for (const p of parts) await p.release();
      }
    }
    return this.#diffRecord(l, u, options);
  }

  async #diffRecord(
    l: CacheRecord | undefined,
    u: CacheRecord,
    options: { description?: string; signal?: AbortSignal },
  ): Promise<ImmutableRef> {
    if (l !== undefined) await this.finalizeRef(l.id, options);
    await this.finalizeRef(u.id, options);
    const id = newID();
    await this.#createLease(id, true);
    this.records.put({
      ...this.#blankRecord(id),
      kind: "diff",
      ...(l === undefined ? {} : { lowerDiffParent: l.id }),
      upperDiffParent: u.id,
      description:
        options.description ??
        `diff ${l === undefined ? "scratch" : l.description || l.id} -> ${u.description || u.id}`,
    });
    return this.openImmutable(id);
  }

  // ------------------------------------------------------- RefOwner (internal)

  /** @internal The record `id`. @throws {NotFoundError} */
  record(id: string): CacheRecord {
    return this.records.require(id);
  }

  /** @internal Opens a handle. */
  openImmutable(id: string): ImmutableRef {
    this.#handles.set(id, (this.#handles.get(id) ?? 0) + 1);
    return new ImmutableRef(this, id);
  }

  /** @internal */
  async mountImmutable(id: string, options: { signal?: AbortSignal }): Promise<Mount[]> {
    await this.extractRef(id, options);
    const now = this.record(id);
    if (now.equalMutable !== undefined) {
      const m = this.record(now.equalMutable);
      return readonlyMounts(await this.#sn.mounts(m.snapshotID, signalOf(options)));
    }
    const key = `${id}-view`;
    try {
      return readonlyMounts(await this.#sn.mounts(key, signalOf(options)));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await this.#createLease(key, true);
    let mounts: Mount[];
    try {
      mounts = await withLease(key, () => this.#sn.view(key, now.snapshotID, signalOf(options)));
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      mounts = await this.#sn.mounts(key, signalOf(options));
    }
    await this.#addSnapshot(key, key);
    return readonlyMounts(mounts);
  }

  /** Closes one handle of record `id`; true when it was the last one. */
  #dropHandle(id: string): boolean {
    const left = (this.#handles.get(id) ?? 1) - 1;
    if (left > 0) {
      this.#handles.set(id, left);
      return false;
    }
    this.#handles.delete(id);
    return true;
  }

  /** @internal */
  async releaseImmutable(id: string): Promise<void> {
    if (!this.#dropHandle(id)) return;
    const r = this.records.get(id);
    if (r === undefined || r.deleted) return;
    this.records.update(id, (x) => {
      x.lastUsedAt = new Date();
      x.usageCount++;
    });
    await this.#removeView(id);
  }

  /** @internal */
  async mountMutable(id: string, options: { signal?: AbortSignal }): Promise<Mount[]> {
    return this.#sn.mounts(this.record(id).snapshotID, signalOf(options));
  }

  /** @internal */
  async commitMutable(id: string, options: { signal?: AbortSignal }): Promise<ImmutableRef> {
    options.signal?.throwIfAborted();
    const ref = await this.#commit(id);
    this.#dropHandle(id);
    return ref;
  }

  /** @internal */
  async releaseMutable(id: string): Promise<void> {
    if (!this.#dropHandle(id)) return;
    const r = this.records.get(id);
    if (r === undefined || r.deleted) return;
    if (r.cachePolicy === "retain") {
      this.records.update(id, (x) => {
        x.lastUsedAt = new Date();
        x.usageCount++;
      });
      return;
    }
    const twin = this.records.children(id).some((c) => c.equalMutable === id);
    if (!twin) await this.#removeRecord(id);
  }

  /**
   * @internal Commits the snapshot of an immutable record committed lazily
   * from a mutable one, under the record's own lease, and drops the mutable.
   */
  finalizeRef(id: string, options: { signal?: AbortSignal }): Promise<void> {
    const r = this.record(id);
    if (r.equalMutable === undefined) return Promise.resolve();
    return this.#finalizeG.do(
      id,
      (signal) =>
        this.#locked(`finalize/${id}`, signal, async () => {
          // Re-read: another process may have finalized it while we waited.
          const now = this.record(id);
          if (now.equalMutable === undefined) return;
          const m = this.record(now.equalMutable);
          if (this.inUse(m.id)) {
            throw new FailedPreconditionError(
              `cannot finalize ref ${id}: its mutable ref ${m.id} is still in use`,
            );
          }
          await this.#createLease(id, true);
          await withLease(id, () => this.#sn.commit(now.snapshotID, m.snapshotID));
          await this.#addSnapshot(id, now.snapshotID);
          this.records.update(id, (x) => {
            delete x.equalMutable;
          });
          this.records.delete(m.id);
          await this.#deleteLease(m.id);
        }),
      signalOf(options),
    );
  }

  /**
   * @internal Makes the record's snapshot exist: parents first, then the
   * blob is fetched (if lazy) and applied into a new snapshot committed as
   * the record's snapshot ID (an existing one, e.g. of an equal chain ID, is reused).
   */
  extractRef(id: string, options: { signal?: AbortSignal }): Promise<void> {
    const r = this.record(id);
    if (r.equalMutable !== undefined) return Promise.resolve();
    if ((r.kind === "base" || r.kind === "layer") && !r.blobOnly) return Promise.resolve();
    return this.#unlazyG.do(
      `${id}-unlazy`,
      // #unlazy starts by looking whether the snapshot exists (made by another process meanwhile).
      (signal) => this.#locked(`unlazy/${id}`, signal, () => this.#unlazy(id, options)),
      signalOf(options),
    );
  }

  /** Finalizes and extracts record `id`; returns its snapshot key. */
  async #materialize(id: string, options: { signal?: AbortSignal }): Promise<string> {
    await this.finalizeRef(id, options);
    await this.extractRef(id, options);
    return this.record(id).snapshotID;
  }

  /** The diffs that rebuild record `r`'s tree from scratch, for `mergeSnapshots`. */
  #diffsOf(r: CacheRecord): MergeDiff[] {
    switch (r.kind) {
      case "base":
        return [{ lower: "", upper: r.snapshotID }];
      case "layer": {
        const p = this.record(r.parent as string);
        return [...this.#diffsOf(p), { lower: p.snapshotID, upper: r.snapshotID }];
      }
      case "merge":
        return r.mergeParents.flatMap((m) => this.#diffsOf(this.record(m)));
      case "diff": {
        const lower =
          r.lowerDiffParent === undefined ? "" : this.record(r.lowerDiffParent).snapshotID;
        return [{ lower, upper: this.record(r.upperDiffParent as string).snapshotID }];
      }
    }
  }

  /** BuildKit's merge capabilities by snapshotter name (the namespaced wrapper hides the class). */
  #mergeOptions(): { hardlinks: boolean; overlayBased: boolean } {
    const caps = mergeCapabilities(this.#sn);
    return {
      hardlinks: caps.hardlinks || this.#snName === "native" || this.#snName === "overlayfs",
      overlayBased: caps.overlayBased || this.#snName === "overlayfs",
    };
  }

  /** Builds the snapshot of a merge or diff record from its inputs' snapshots. */
  async #buildMerged(id: string, options: { signal?: AbortSignal }): Promise<void> {
    const r = this.record(id);
    if (!(await this.#snapshotExists(r.snapshotID))) {
      const inputs =
        r.kind === "merge"
          ? r.mergeParents
          : [r.lowerDiffParent, r.upperDiffParent].filter((x) => x !== undefined);
      await Promise.all(inputs.map((p) => this.#materialize(p, options)));
      // Parents of layer inputs exist once their children do.
      const diffs = this.#diffsOf(this.record(id));
      this.#stats.merges++;
      try {
        await withLease(id, () =>
          mergeSnapshots(this.#sn, r.snapshotID, diffs, {
            ...this.#mergeOptions(),
            ...signalOf(options),
          }),
        );
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
      }
    }
    await this.#addSnapshot(id, r.snapshotID);
    this.records.update(id, (x) => {
      x.size = -1;
    });
  }

  async #unlazy(id: string, options: { signal?: AbortSignal }): Promise<void> {
    const r = this.record(id);
    if (r.kind === "merge" || r.kind === "diff") {
      await this.#buildMerged(id, options);
      return;
    }
    if (await this.#snapshotExists(r.snapshotID)) {
      this.records.update(id, (x) => {
        x.blobOnly = false;
        x.size = -1;
      });
      return;
    }
    if (r.blob === undefined) {
      throw new FailedPreconditionError(
        `cannot extract ref ${id}: snapshot ${r.snapshotID} is missing and the record has no blob`,
      );
    }
    let parentSnapshot = "";
    const parentWork =
      r.parent === undefined ? Promise.resolve() : this.extractRef(r.parent, options);
    await Promise.all([parentWork, this.#ensureBlobLocal(id, options)]);
    if (r.parent !== undefined) parentSnapshot = this.record(r.parent).snapshotID;
    const key = `extract-${newID()} ${r.chainID ?? r.id}`;
    const mounts = await withLease(id, () =>
      this.#sn.prepare(key, parentSnapshot, signalOf(options)),
    );
    try {
      this.#stats.extractions++;
      const ra = await this.content.readerAt({ digest: r.blob }, signalOf(options));
      let result: { diffID: Digest };
      try {
        const stream = readerStream(ra, signalOf(options));
        const upper = activeUpperdir(mounts);
        result =
          upper !== undefined
            ? await applyLayer(upper, stream, { overlay: true, ...signalOf(options) })
            : await withDirectory(mounts, (dir) => applyLayer(dir, stream, signalOf(options)));
      } finally {
        await ra.close();
      }
      if (r.diffID !== undefined && result.diffID !== r.diffID) {
        throw new DataLossError(
          `cannot extract ref ${id}: blob ${r.blob} has diffID ${result.diffID}, expected ${r.diffID}`,
        );
      }
      try {
        await withLease(id, () => this.#sn.commit(r.snapshotID, key, signalOf(options)));
      } catch (err) {
        if (!isAlreadyExists(err)) throw err;
        await this.#sn.remove(key);
      }
    } catch (err) {
      await this.#sn.remove(key).catch(() => {});
      throw err;
    }
    await this.#addSnapshot(id, r.snapshotID);
    this.records.update(id, (x) => {
      x.blobOnly = false;
      x.size = -1;
    });
  }

  /** @internal Bytes the record holds: snapshot usage (unless lazy) plus blob and variants. */
  sizeOf(id: string, options: { signal?: AbortSignal }): Promise<number> {
    const r = this.record(id);
    if (r.size >= 0) return Promise.resolve(r.size);
    return this.#sizeG.do(
      `${id}-size`,
      async () => {
        const now = this.record(id);
        let size = 0;
        if (!now.blobOnly) {
          const key =
            now.equalMutable !== undefined
              ? this.record(now.equalMutable).snapshotID
              : now.snapshotID;
          try {
            size += (await this.#sn.usage(key)).size;
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        if (now.blob !== undefined) {
          for (const d of await this.#blobAndVariants(now.blob)) size += d.size;
        }
        this.records.update(id, (x) => {
          x.size = size;
        });
        return size;
      },
      signalOf(options),
    );
  }

  // ------------------------------------------------------------- blobs

  /**
   * Computes the blobs a ref's layers lack (one differ run per layer, shared
   * by concurrent callers), then the chain IDs. Each new blob is held by its
   * record's lease.
   *
   * @throws {FailedPreconditionError} when a blob is missing and `createIfNeeded` is false.
   */
  async computeBlobChain(ref: ImmutableRef, options: RemoteOptions = {}): Promise<void> {
    this.#open();
    if (ref.released)
      throw new FailedPreconditionError(`cannot compute blobs of ${ref.id}: released`);
    const r = this.record(ref.id);
    const chain = this.#layerChain(r);
    await Promise.all(chain.map((layer) => this.#ensureBlob(layer.id, options)));
    for (const layer of chain) this.#computeChainMetadata(layer);
    this.#computeChainMetadata(r);
  }

  #ensureBlob(id: string, options: RemoteOptions): Promise<void> {
    const create = options.createIfNeeded ?? true;
    if (this.record(id).blob !== undefined) return Promise.resolve();
    return this.#blobG.do(
      `${id}-${create}`,
      async (signal) => {
        if (this.record(id).blob !== undefined) return;
        if (!create) {
          throw new FailedPreconditionError(`ref ${id} has no blob and createIfNeeded is false`);
        }
        await this.#locked(`blob/${id}`, signal, async () => {
          // Re-read: another process may have computed it while we waited.
          if (this.record(id).blob !== undefined) return;
          await this.finalizeRef(id, options);
          await this.#computeBlob(id, options);
        });
      },
      signalOf(options),
    );
  }

  async #computeBlob(id: string, options: RemoteOptions): Promise<void> {
    const r = this.record(id);
    const sig = signalOf(options);
    if (r.kind === "diff") {
      // A diff that is its own layer: the changes from lower to upper.
      const [lower, upper] = await Promise.all([
        r.lowerDiffParent === undefined ? undefined : this.#materialize(r.lowerDiffParent, sig),
        this.#materialize(r.upperDiffParent as string, sig),
      ]);
      await this.#writeDiffBlob(id, lower, upper, options);
      return;
    }
    if (r.kind === "merge") {
      throw new FailedPreconditionError(`cannot compute a blob for merge ref ${id}: it has none`);
    }
    const lowerSnapshot =
      r.parent === undefined ? undefined : await this.#materialize(r.parent, sig);
    await this.#writeDiffBlob(id, lowerSnapshot, await this.#materialize(id, sig), options);
  }

  /**
   * Computes the layer from snapshot `lowerSnapshot` (undefined: empty) to
   * `upperSnapshot` and sets it as record `id`'s blob. The views and the new
   * blob live under a temporary lease (so GC takes nothing mid-way); the blob
   * is adopted into the record's lease.
   */
  async #writeDiffBlob(
    id: string,
    lowerSnapshot: string | undefined,
    upperSnapshot: string,
    options: RemoteOptions,
  ): Promise<void> {
    const tag = newID();
    const sig = signalOf(options);
    const upperKey = `blob-${tag}-upper`;
    const lowerKey = `blob-${tag}-lower`;
    const layerOptions = {
      compression: options.compression ?? "gzip",
      ...(options.level === undefined ? {} : { level: options.level }),
      ...sig,
    };
    const result = await withTemporaryLease(
      this.#leases,
      async (lease) => {
        // The temporary lease is current here: the namespaced snapshotter adds the views to it.
        const upper = await this.#sn.view(upperKey, upperSnapshot, sig);
        let lower: Mount[] | undefined;
        try {
          if (lowerSnapshot !== undefined) {
            lower = await this.#sn.view(lowerKey, lowerSnapshot, sig);
          }
          const store = this.#db.contentStore(this.namespace, { lease: lease?.id ?? id });
          const withLower = <T>(fn: (dir: string | undefined) => Promise<T>): Promise<T> =>
            lower === undefined
              ? fn(undefined)
              : withDirectory(lower, (dir) => fn(dir), { readonly: true, ...sig });
          this.#stats.differRuns++;
          const upperdir = this.#snName === "overlayfs" ? upperdirOf(lower, upper) : undefined;
          if (upperdir !== undefined) {
            try {
              const written = await withLower((dir) =>
                writeLayer(store, diffOverlay(dir, upperdir, sig), layerOptions),
              );
              this.#stats.overlayDiffs++;
              return written;
            } catch (err) {
              // Redirects and metacopy cannot be read from the upperdir: walk both trees.
              if (!isNotImplemented(err)) throw err;
            }
          }
          return await withLower((lowerDir) =>
            withDirectory(
              upper,
              (upperDir) =>
                writeLayer(store, diffDirectories(lowerDir, upperDir, sig), layerOptions),
              { readonly: true, ...sig },
            ),
          );
        } finally {
          await this.#sn.remove(upperKey).catch(() => {});
          if (lower !== undefined) await this.#sn.remove(lowerKey).catch(() => {});
        }
      },
      { adoptInto: id, ...sig },
    );
    await this.#setBlob(id, result.descriptor, result.diffID);
  }

  async #setBlob(id: string, desc: Descriptor, diffID: Digest): Promise<void> {
    await this.#leases.addResource({ id }, { type: RESOURCE_CONTENT, id: desc.digest });
    this.records.update(id, (x) => {
      x.blob = desc.digest;
      x.diffID = diffID;
      x.mediaType = desc.mediaType;
      x.blobSize = desc.size;
      x.size = -1;
    });
    await this.#labelBlob(desc.digest, {
      ...desc,
      annotations: { ...desc.annotations, [LABEL_UNCOMPRESSED]: diffID },
    });
  }

  /**
   * Sets chain ID and blob chain ID of `r0` (and of the records below it)
   * once every layer of its chain has a blob: a layer extends its parent's
   * IDs; merges and diffs fold the IDs over their layer chain.
   */
  #computeChainMetadata(r0: CacheRecord): void {
    const r = this.record(r0.id);
    if (r.chainID !== undefined && r.blobChainID !== undefined) return;
    let chainID: Digest | undefined;
    let blobChainID: Digest | undefined;
    if (r.kind === "layer" || r.kind === "base" || this.#isOwnLayer(r)) {
      if (r.blob === undefined || r.diffID === undefined) return;
      chainID = r.diffID;
      blobChainID = blobID(r.blob, r.diffID);
      if (r.kind === "layer") {
        this.#computeChainMetadata(this.record(r.parent as string));
        const p = this.record(r.parent as string);
        // A parent without blobs (the upper of a one-layer diff): not addressable yet.
        if (p.chainID === undefined || p.blobChainID === undefined) return;
        chainID = chainOf(p.chainID, chainID);
        blobChainID = chainOf(p.blobChainID, blobChainID);
      }
    } else {
      for (const layer of this.#layerChain(r)) {
        const l = this.record(layer.id);
        if (l.blob === undefined || l.diffID === undefined) return;
        const b = blobID(l.blob, l.diffID);
        chainID = chainID === undefined ? l.diffID : chainOf(chainID, l.diffID);
        blobChainID = blobChainID === undefined ? b : chainOf(blobChainID, b);
      }
    }
    if (chainID === undefined || blobChainID === undefined) return;
    const c = chainID;
    const bc = blobChainID;
    this.records.update(r.id, (x) => {
      x.chainID = c;
      x.blobChainID = bc;
    });
  }

  /** Whether diff record `r` is its own layer (not one layer on its lower: that reuses the upper's blob). */
  #isOwnLayer(r: CacheRecord): boolean {
    if (r.kind !== "diff") return false;
    const u = this.record(r.upperDiffParent as string);
    if (r.lowerDiffParent === undefined) return u.kind !== "base";
    return u.kind !== "layer" || u.parent !== r.lowerDiffParent;
  }

  /** The records whose blobs form the ref's layers, bottom first (BuildKit's layerChain). */
  #layerChain(r: CacheRecord): CacheRecord[] {
    switch (r.kind) {
      case "base":
        return [r];
      case "layer":
        return [...this.#layerChain(this.record(r.parent as string)), r];
      case "merge":
        return r.mergeParents.flatMap((p) => this.#layerChain(this.record(p)));
      case "diff":
        return this.#isOwnLayer(r) ? [r] : [this.record(r.upperDiffParent as string)];
    }
  }

  // ---------------------------------------------------------- variants

  /**
   * The descriptor of a ref's layer blob in `compression`: the main blob, an
   * existing variant, or a new conversion linked to the main blob (both ways,
   * with `containerd.io/gc.ref.content.blob-<digest>` labels) and held by the
   * record's `-variants` lease. Concurrent callers share one conversion.
   *
   * @throws {FailedPreconditionError} when the layer has no blob yet (compute it first).
   */
  ensureCompression(
    id: string,
    compression: Compression,
    options: { level?: number; signal?: AbortSignal } = {},
  ): Promise<Descriptor> {
    return this.#compG.do(
      `ensureComp-${id}-${compression}`,
      async (signal) =>
        (await this.#existingCompression(id, compression)) ??
        this.#locked(
          `convert/${id}/${compression}`,
          signal,
          async () =>
            // Re-read: another process may have converted it while we waited.
            (await this.#existingCompression(id, compression)) ??
            this.#convert(id, compression, options),
        ),
      signalOf(options),
    );
  }

  /**
   * Record `id`'s main blob or a variant of it in `compression`, if any.
   *
   * @throws {FailedPreconditionError} when the record has no blob.
   */
  async #existingCompression(
    id: string,
    compression: Compression,
  ): Promise<Descriptor | undefined> {
    const r = this.record(id);
    if (r.blob === undefined) {
      throw new FailedPreconditionError(`cannot convert ref ${id}: it has no blob`);
    }
    const main = this.#mainDesc(r);
    if (compressionOf(main) === compression) return main;
    for (const v of await this.#blobAndVariants(r.blob)) {
      if (compressionOf(v) === compression) return v;
    }
    return undefined;
  }

  /** Converts record `id`'s main blob to `compression` and links the variant. */
  async #convert(
    id: string,
    compression: Compression,
    options: { level?: number; signal?: AbortSignal },
  ): Promise<Descriptor> {
    const r = this.record(id);
    if (r.blob === undefined) {
      throw new FailedPreconditionError(`cannot convert ref ${id}: it has no blob`);
    }
    const from = compressionOf(this.#mainDesc(r));
    await this.#ensureBlobLocal(id, options);
    await this.#createLease(`${id}-variants`, false);
    const ra = await this.content.readerAt({ digest: r.blob }, signalOf(options));
    let desc: Descriptor;
    try {
      desc = await withTemporaryLease(
        this.#leases,
        async (lease) => {
          const store = this.#db.contentStore(this.namespace, { lease: lease?.id ?? id });
          const conv = convert(readerStream(ra, signalOf(options)), compression, {
            from,
            ...(options.level === undefined ? {} : { level: options.level }),
            ...signalOf(options),
          });
          const writer = await openWriter(store, {
            ref: `convert-from-${r.blob}-to-${compression}-${newID()}`,
            ...signalOf(options),
          });
          let committed = false;
          try {
            for await (const chunk of conv.stream) await writer.write(chunk, signalOf(options));
            const result = await conv.result;
            try {
              await writer.commit(result.descriptor.size, result.descriptor.digest as Digest, {
                labels: { [LABEL_UNCOMPRESSED]: result.diffID },
              });
            } catch (err) {
              if (!isAlreadyExists(err)) throw err;
            }
            committed = true;
            const converted: Descriptor = {
              ...result.descriptor,
              digest: result.descriptor.digest as Digest,
              annotations: {
                ...result.descriptor.annotations,
                [LABEL_UNCOMPRESSED]: result.diffID,
              },
            };
            return converted;
          } finally {
            await writer.close();
            if (!committed) await store.abort(writer.ref).catch(() => {});
          }
        },
        { adoptInto: `${id}-variants`, ...signalOf(options) },
      );
    } finally {
      await ra.close();
    }
    this.#stats.conversions++;
    await this.#linkBlob(r, desc);
    return desc;
  }

  async #linkBlob(r: CacheRecord, desc: Descriptor): Promise<void> {
    const main = r.blob as Digest;
    await this.#createLease(`${r.id}-variants`, false);
    await this.#leases.addResource(
      { id: `${r.id}-variants` },
      { type: RESOURCE_CONTENT, id: desc.digest },
    );
    await this.#labelBlob(desc.digest, desc, { [`${LABEL_BLOB_VARIANT_PREFIX}${main}`]: main });
    this.records.update(r.id, (x) => {
      x.size = -1;
    });
    if (desc.digest === main) return;
    await this.#labelBlob(main, this.#mainDesc(r), {
      [`${LABEL_BLOB_VARIANT_PREFIX}${desc.digest}`]: desc.digest,
    });
  }

  /** Stores the descriptor's media type and saved annotations on the blob's labels, plus `extra`. */
  async #labelBlob(
    digest: Digest,
    desc: Pick<Descriptor, "mediaType" | "annotations">,
    extra: Record<string, string> = {},
  ): Promise<void> {
    const labels: Record<string, string> = { ...extra, [LABEL_BLOB_MEDIA_TYPE]: desc.mediaType };
    for (const key of SAVED_ANNOTATIONS) {
      const v = desc.annotations?.[key];
      if (v !== undefined) labels[`${LABEL_BLOB_ANNOTATION_PREFIX}${key}`] = v;
    }
    await this.content.update(
      { digest, labels },
      { fieldpaths: Object.keys(labels).map((k) => `labels.${k}`) },
    );
  }

  #mainDesc(r: CacheRecord): Descriptor {
    const annotations: Record<string, string> = {};
    if (r.diffID !== undefined) annotations[LABEL_UNCOMPRESSED] = r.diffID;
    return {
      mediaType: r.mediaType ?? "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: r.blob as Digest,
      size: r.blobSize ?? 0,
      annotations,
      ...(r.urls.length > 0 ? { urls: [...r.urls] } : {}),
    };
  }

  /**
   * @internal What record `id` holds: its snapshot key (when it exists and
   * is not a lazy record's), and the digests of its blob and the blob's
   * variants present in the content store.
   */
  async resourcesOf(id: string): Promise<{ snapshot?: string; blobs: Digest[] }> {
    const r = this.record(id);
    const out: { snapshot?: string; blobs: Digest[] } = { blobs: [] };
    const key =
      r.equalMutable !== undefined ? this.record(r.equalMutable).snapshotID : r.snapshotID;
    if (!r.blobOnly && (await this.#snapshotExists(key))) out.snapshot = key;
    if (r.blob !== undefined) {
      out.blobs = (await this.#blobAndVariants(r.blob)).map((d) => d.digest);
    }
    return out;
  }

  /** The blob and every variant reachable through variant labels (BFS), those present only. */
  async #blobAndVariants(main: Digest): Promise<Descriptor[]> {
    const out: Descriptor[] = [];
    const seen = new Set<string>([main]);
    const queue: Digest[] = [main];
    while (queue.length > 0) {
      const d = queue.shift() as Digest;
      let info: Awaited<ReturnType<NamespacedContentStore["info"]>>;
      try {
        info = await this.content.info(d);
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      const annotations: Record<string, string> = {};
      for (const [k, v] of Object.entries(info.labels)) {
        if (k.startsWith(LABEL_BLOB_ANNOTATION_PREFIX)) {
          annotations[k.slice(LABEL_BLOB_ANNOTATION_PREFIX.length)] = v;
        }
        if (k.startsWith(LABEL_BLOB_VARIANT_PREFIX) && isDigest(v) && !seen.has(v)) {
          seen.add(v);
          queue.push(v);
        }
      }
      const mediaType = info.labels[LABEL_BLOB_MEDIA_TYPE];
      if (mediaType !== undefined) out.push({ mediaType, digest: d, size: info.size, annotations });
      else if (d === main) out.push({ mediaType: "", digest: d, size: info.size, annotations });
    }
    return out;
  }

  // ----------------------------------------------------------- remotes

  /**
   * The ref's layers as remotes. The first is the main chain: blobs computed
   * where missing (in `compression`), and with `force` every layer in
   * `compression` (converted where no variant exists). With `all`, further
   * chains follow, made of existing variants whose top layer is in
   * `compression` (see {@link walkRemotes}), at most `limit` in all.
   *
   * @throws {FailedPreconditionError} when blobs are missing and `createIfNeeded` is false.
   */
  async getRemotes(ref: ImmutableRef, options: GetRemotesOptions = {}): Promise<Remote[]> {
    const out: Remote[] = [];
    const limit = options.all === true ? (options.limit ?? 32) : 1;
    for await (const remote of this.walkRemotes(ref, options)) {
      out.push(remote);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Yields the main remote (as {@link getRemotes}), then, lazily, every other
   * combination of existing compression variants of the layers whose top
   * layer is in `options.compression` (any, when not given). The number of
   * combinations grows exponentially with depth: stop reading when you have
   * enough.
   */
  async *walkRemotes(
    ref: ImmutableRef,
    options: RemoteOptions = {},
  ): AsyncGenerator<Remote, void, undefined> {
    await this.computeBlobChain(ref, options);
    const chain = this.#layerChain(this.record(ref.id)).map((r) => this.record(r.id));
    const main: Descriptor[] = [];
    for (const r of chain) {
      let desc = this.#mainDesc(r);
      if (
        options.force === true &&
        options.compression !== undefined &&
        compressionOf(desc) !== options.compression
      ) {
        desc = await this.ensureCompression(r.id, options.compression, options);
      }
      main.push(this.#exportDesc(r, desc));
    }
    const provider = this.#provider();
    yield { descriptors: main, provider };
    const choices: Descriptor[][] = [];
    for (const r of chain) {
      const all = (await this.#blobAndVariants(r.blob as Digest)).filter((d) => d.mediaType !== "");
      choices.push(all.map((d) => this.#exportDesc(r, d)));
    }
    const top = choices.length - 1;
    if (top < 0 || choices.some((c) => c.length === 0)) return;
    const seen = main.map((d) => d.digest).join(",");
    const index = choices.map(() => 0);
    for (;;) {
      const descs = index.map((i, layer) => (choices[layer] as Descriptor[])[i] as Descriptor);
      const topDesc = descs[top] as Descriptor;
      const key = descs.map((d) => d.digest).join(",");
      if (
        key !== seen &&
        (options.compression === undefined || compressionOf(topDesc) === options.compression)
      ) {
        yield { descriptors: descs, provider };
      }
      let layer = 0;
      while (layer <= top) {
        index[layer] = (index[layer] as number) + 1;
        if ((index[layer] as number) < (choices[layer] as Descriptor[]).length) break;
        index[layer] = 0;
        layer++;
      }
      if (layer > top) return;
    }
  }

  #exportDesc(r: CacheRecord, desc: Descriptor): Descriptor {
    const annotations: Record<string, string> = { ...desc.annotations };
    if (annotations[LABEL_UNCOMPRESSED] === undefined && r.diffID !== undefined) {
      annotations[LABEL_UNCOMPRESSED] = r.diffID;
    }
    annotations[ANNOTATION_CREATED_AT] = r.createdAt.toISOString();
    return {
      mediaType: desc.mediaType,
      digest: desc.digest,
      size: desc.size,
      annotations,
      ...(r.urls.length > 0 ? { urls: [...r.urls] } : {}),
    };
  }

  /** A provider over the content store that fetches lazy blobs on first read. */
  #provider(): Provider {
    return {
      readerAt: async (desc, options): Promise<ReaderAt> => {
        try {
          return await this.content.readerAt(desc, options);
        } catch (err) {
          if (!isNotFound(err) || !this.#providers.has(desc.digest)) throw err;
        }
        await this.#fetch(desc.digest, desc.size, options ?? {});
        return this.content.readerAt(desc, options);
      },
    };
  }

  async #ensureBlobLocal(id: string, options: { signal?: AbortSignal }): Promise<void> {
    const r = this.record(id);
    if (r.blob === undefined) return;
    await this.#fetch(r.blob, r.blobSize, options);
  }

  /** Whether the content store of this namespace has blob `digest`. */
  async #hasBlob(digest: Digest): Promise<boolean> {
    try {
      await this.content.info(digest);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Fetches a blob from its remote provider once (per digest, across callers) if absent. */
  async #fetch(
    digest: Digest,
    size: number | undefined,
    options: { signal?: AbortSignal },
  ): Promise<void> {
    if (await this.#hasBlob(digest)) return;
    const provider = this.#providers.get(digest);
    if (provider === undefined) {
      throw new FailedPreconditionError(
        `blob ${digest} is lazy and no remote provider is registered for it`,
      );
    }
    await this.#fetchG.do(
      digest,
      (signal) =>
        this.#locked(`fetch/${digest}`, signal, () =>
          this.#fetchNow(digest, size, provider, signal),
        ),
      signalOf(options),
    );
  }

  async #fetchNow(
    digest: Digest,
    size: number | undefined,
    provider: Provider,
    signal: AbortSignal,
  ): Promise<void> {
    // Re-read: another caller or process may have fetched it meanwhile.
    if (await this.#hasBlob(digest)) return;
    // Records hold the digest in their leases already; the temporary lease
    // covers the ingest until the blob is committed.
    await withTemporaryLease(
      this.#leases,
      async (lease) => {
        const store = this.#db.contentStore(this.namespace, { lease: lease?.id ?? "" });
        const desc = { digest, size: size ?? 0 };
        let writer: Awaited<ReturnType<typeof openWriter>>;
        try {
          writer = await openWriter(store, { ref: `fetch-${digest}`, desc, signal });
        } catch (err) {
          if (isAlreadyExists(err)) return;
          throw err;
        }
        await copy(writer, provider, desc, { signal });
      },
      { signal, reuseCurrent: false },
    );
    this.#stats.fetches++;
  }

  // -------------------------------------------------------- removal

  /**
   * @internal Removes a record: tombstone, leases, views and (if no other
   * record shares it) its snapshot. The caller checks it is unused.
   */
  async removeRecord(id: string): Promise<void> {
    await this.#removeRecord(id);
  }

  async #removeRecord(id: string): Promise<void> {
    const r = this.records.get(id);
    if (r === undefined) return;
    if (!r.deleted) {
      this.records.update(id, (x) => {
        x.deleted = true;
      });
    }
    if (r.equalMutable !== undefined) await this.#removeRecord(r.equalMutable);
    await this.#removeView(id);
    const shared = this.records
      .list()
      .some((o) => o.id !== id && !o.deleted && o.snapshotID === r.snapshotID);
    if (!shared && r.equalMutable === undefined) {
      try {
        await this.#sn.remove(r.snapshotID);
      } catch (err) {
        // Absent (lazy) or still a parent of another snapshot: GC's business then.
        if (!isNotFound(err) && !isFailedPrecondition(err)) throw err;
      }
    }
    await this.#deleteLease(id);
    await this.#deleteLease(`${id}-variants`);
    this.records.delete(id);
  }

  async #removeView(id: string): Promise<void> {
    try {
      await this.#sn.remove(`${id}-view`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await this.#deleteLease(`${id}-view`);
  }

  /**
   * Disk usage of every record (see `diskUsage` in disk_usage.ts).
   *
   * @throws {InvalidArgumentError} on a malformed filter.
   */
  diskUsage(options: DiskUsageOptions = {}): Promise<UsageInfo[]> {
    this.#open();
    return diskUsage(this, options);
  }

  /**
   * Prunes by one policy after another (BuildKit's Prune with its policies),
   * one prune at a time, then runs the garbage collector. Returns what was
   * removed.
   *
   * @throws {InvalidArgumentError} on a malformed filter, a negative size, or
   *   `minFreeSpace` without a way to know the disk space.
   */
  prune(...policies: PruneOptions[]): Promise<UsageInfo[]> {
    this.#open();
    const run = this.#pruning.then(async () => {
      const removed: UsageInfo[] = [];
      for (const policy of policies.length === 0 ? [{}] : policies) {
        const p =
          policy.diskSpace === undefined && this.#diskSpace !== undefined
            ? { ...policy, diskSpace: this.#diskSpace }
            : policy;
        removed.push(...(await prune(this, p)));
      }
      await this.#db.gc(policies[0]?.signal === undefined ? {} : { signal: policies[0].signal });
      return removed;
    });
    this.#pruning = run.catch(() => {});
    return run;
  }

  /** Runs the metadata garbage collector (what removed records held goes). */
  async gc(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#db.gc(options);
  }

  /** Closes the record store; open refs become unusable. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.records.close();
  }

  // ---------------------------------------------------------- helpers

  async #recover(): Promise<void> {
    for (const r of this.records.list()) {
      if (r.deleted) {
        await this.#removeRecord(r.id);
        continue;
      }
      if (!r.committed) {
        const twin = this.records.children(r.id).some((c) => c.equalMutable === r.id);
        if ((!twin && r.cachePolicy !== "retain") || !(await this.#snapshotExists(r.snapshotID))) {
          await this.#removeRecord(r.id);
        }
      }
    }
  }

  async #commit(mutableID: string): Promise<ImmutableRef> {
    const m = this.record(mutableID);
    const id = newID();
    this.records.put({
      ...this.#blankRecord(id),
      kind: m.kind,
      ...(m.parent === undefined ? {} : { parent: m.parent }),
      snapshotID: id,
      equalMutable: mutableID,
      cachePolicy: m.cachePolicy,
      recordType: m.recordType,
      description: m.description,
    });
    return this.openImmutable(id);
  }

  #openMutable(id: string): MutableRef {
    this.#handles.set(id, (this.#handles.get(id) ?? 0) + 1);
    return new MutableRef(this, id);
  }

  #blankRecord(id: string): CacheRecord {
    return newCacheRecord(id);
  }

  #live(id: string): CacheRecord {
    const r = this.records.get(id);
    if (r === undefined || r.deleted) {
      throw new NotFoundError(`cache record ${JSON.stringify(id)}: not found`);
    }
    return r;
  }

  async #snapshotExists(key: string): Promise<boolean> {
    try {
      await this.#sn.stat(key);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async #createLease(id: string, flat: boolean): Promise<void> {
    try {
      await this.#leases.create({
        id,
        ...(flat ? { labels: { [LABEL_GC_FLAT]: new Date().toISOString() } } : {}),
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }

  async #deleteLease(id: string): Promise<void> {
    try {
      await this.#leases.delete({ id });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async #addSnapshot(lease: string, key: string): Promise<void> {
    await this.#leases.addResource(
      { id: lease },
      { type: `${RESOURCE_SNAPSHOTS_PREFIX}${this.#snName}`, id: key },
    );
  }

  #open(): void {
    if (this.#closed) throw new FailedPreconditionError("cache manager is closed");
  }

  /**
   * Runs `fn` holding the cross-process lock of `key` in this namespace when
   * the manager has a lock directory; `fn` must re-read what it depends on,
   * since another process may have done the work while this one waited.
   */
  async #locked<T>(key: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    if (this.#locksDir === undefined) return fn();
    const lock = await acquireFileLock(this.#locksDir, `cache/${this.namespace}/${key}`, {
      signal,
    });
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }
}

function compressionOf(desc: Pick<Descriptor, "mediaType" | "annotations">): Compression {
  try {
    return compressionOfMediaType(
      desc.mediaType,
      desc.annotations === undefined ? {} : { annotations: desc.annotations },
    );
  } catch {
    return "uncompressed";
  }
}
