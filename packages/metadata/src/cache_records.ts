import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from "@strata/errdefs";
import { type Digest, isDigest } from "@strata/oci";
import { validateNamespace } from "./_validate.ts";

/**
 * How a record relates to its parents (BuildKit's ref kinds): `base` has no
 * parent, `layer` one layer parent, `merge` a list of inputs, `diff` a lower
 * and an optional upper.
 */
export type CacheRecordKind = "base" | "layer" | "merge" | "diff";

/** BuildKit's cache policy: `retain` keeps a released mutable record (cache mounts). */
export type CachePolicy = "default" | "retain";

/**
 * One cache record, with BuildKit's per-record fields (`cache.*` and
 * `snapshot.*` metadata keys). Times are `Date`s, sizes bytes; `size` -1
 * means not yet computed.
 */
export interface CacheRecord {
  id: string;
  kind: CacheRecordKind;
  /** false for a mutable record. */
  committed: boolean;
  /** The snapshotter key of the record's snapshot. */
  snapshotID: string;
  /** The mutable record this one was committed from, until finalized. */
  equalMutable?: string;
  parent?: string;
  mergeParents: string[];
  lowerDiffParent?: string;
  upperDiffParent?: string;
  /** Main compressed blob. */
  blob?: Digest;
  /** Digest of the uncompressed layer. */
  diffID?: Digest;
  chainID?: Digest;
  blobChainID?: Digest;
  mediaType?: string;
  blobSize?: number;
  /** Has a blob but no extracted snapshot yet (lazy). */
  blobOnly: boolean;
  urls: string[];
  imageRefs: string[];
  size: number;
  cachePolicy: CachePolicy;
  /** `regular`, `internal`, `frontend`, `source.local`, `source.git.checkout`, `exec.cachemount`. */
  recordType: string;
  description: string;
  createdAt: Date;
  lastUsedAt?: Date;
  usageCount: number;
  /** Tombstone written before removal. */
  deleted: boolean;
  labels: Record<string, string>;
  /** Free-form JSON for fields not covered above. */
  extra: Record<string, unknown>;
}

/**
 * A new record with every field at its default: a committed base layer
 * whose snapshot is named after it, no blob, size unknown (-1), default
 * cache policy, created now. `patch` overrides fields.
 */
export function newCacheRecord(id: string, patch: Partial<CacheRecord> = {}): CacheRecord {
  return {
    id,
    kind: "base",
    committed: true,
    snapshotID: id,
    mergeParents: [],
    blobOnly: false,
    urls: [],
    imageRefs: [],
    size: -1,
    cachePolicy: "default",
    recordType: "regular",
    description: "",
    createdAt: new Date(),
    usageCount: 0,
    deleted: false,
    labels: {},
    extra: {},
    ...patch,
  };
}

interface Row {
  id: string;
  kind: string;
  committed: number;
  snapshot_id: string;
  equal_mutable: string | null;
  parent: string | null;
  merge_parents: string;
  lower_diff_parent: string | null;
  upper_diff_parent: string | null;
  blob: string | null;
  diff_id: string | null;
  chain_id: string | null;
  blob_chain_id: string | null;
  media_type: string | null;
  blob_size: number | null;
  blob_only: number;
  urls: string;
  image_refs: string;
  size: number;
  cache_policy: string;
  record_type: string;
  description: string;
  created_at: number;
  last_used_at: number | null;
  usage_count: number;
  deleted: number;
  labels: string;
  extra: string;
}

const KINDS: readonly string[] = ["base", "layer", "merge", "diff"];

function fromRow(row: Row): CacheRecord {
  const r: CacheRecord = {
    id: row.id,
    kind: row.kind as CacheRecordKind,
    committed: row.committed !== 0,
    snapshotID: row.snapshot_id,
    mergeParents: JSON.parse(row.merge_parents) as string[],
    blobOnly: row.blob_only !== 0,
    urls: JSON.parse(row.urls) as string[],
    imageRefs: JSON.parse(row.image_refs) as string[],
    size: row.size,
    cachePolicy: row.cache_policy === "retain" ? "retain" : "default",
    recordType: row.record_type,
    description: row.description,
    createdAt: new Date(row.created_at),
    usageCount: row.usage_count,
    deleted: row.deleted !== 0,
    labels: JSON.parse(row.labels) as Record<string, string>,
    extra: JSON.parse(row.extra) as Record<string, unknown>,
  };
  if (row.equal_mutable !== null) r.equalMutable = row.equal_mutable;
  if (row.parent !== null) r.parent = row.parent;
  if (row.lower_diff_parent !== null) r.lowerDiffParent = row.lower_diff_parent;
  if (row.upper_diff_parent !== null) r.upperDiffParent = row.upper_diff_parent;
  if (row.blob !== null) r.blob = row.blob as Digest;
  if (row.diff_id !== null) r.diffID = row.diff_id as Digest;
  if (row.chain_id !== null) r.chainID = row.chain_id as Digest;
  if (row.blob_chain_id !== null) r.blobChainID = row.blob_chain_id as Digest;
  if (row.media_type !== null) r.mediaType = row.media_type;
  if (row.blob_size !== null) r.blobSize = row.blob_size;
  if (row.last_used_at !== null) r.lastUsedAt = new Date(row.last_used_at);
  return r;
}

function validate(r: CacheRecord): void {
  const what = `cannot store cache record ${JSON.stringify(r.id)}`;
  if (r.id === "") throw new InvalidArgumentError("cannot store cache record: empty id");
  if (!KINDS.includes(r.kind)) {
    throw new InvalidArgumentError(`${what}: unknown kind ${JSON.stringify(r.kind)}`);
  }
  if (r.snapshotID === "") throw new InvalidArgumentError(`${what}: empty snapshot id`);
  for (const [name, value] of [
    ["blob", r.blob],
    ["diffID", r.diffID],
    ["chainID", r.chainID],
    ["blobChainID", r.blobChainID],
  ] as const) {
    if (value !== undefined && !isDigest(value)) {
      throw new InvalidArgumentError(`${what}: ${name} ${JSON.stringify(value)} is not a digest`);
    }
  }
  const parents =
    (r.parent !== undefined ? 1 : 0) +
    (r.mergeParents.length > 0 ? 1 : 0) +
    (r.lowerDiffParent !== undefined || r.upperDiffParent !== undefined ? 1 : 0);
  if (parents > 1) {
    throw new InvalidArgumentError(`${what}: at most one of parent, merge and diff parents is set`);
  }
}

/**
 * The cache records of one namespace in the metadata database (schema v3,
 * table `cache_records`), indexed by chain ID and blob chain ID. It uses its
 * own connection to the database file, as BuildKit keeps its records apart
 * from containerd's; writes are synchronous single statements.
 *
 * @example
 * ```ts
 * const records = CacheRecordStore.open(db, "default");
 * records.put({ ...record, description: "pulled from alpine" });
 * records.byChainID(chainID); // every record of that chain
 * records.close();
 * ```
 */
export class CacheRecordStore {
  /** The namespace whose records this store sees. */
  readonly namespace: string;
  readonly #sql: DatabaseSync;
  #closed = false;

  private constructor(sql: DatabaseSync, namespace: string) {
    this.#sql = sql;
    this.namespace = namespace;
  }

  /**
   * Opens the records of `namespace` in the database `db` (anything with the
   * database file's `path`, such as a `MetadataDB` that has migrated it).
   *
   * @throws {InvalidArgumentError} on a bad namespace name.
   * @throws {FailedPreconditionError} when the database has no cache_records table (not migrated to v3).
   */
  static open(
    db: { readonly path: string },
    namespace: string,
    options: { busyTimeoutMs?: number } = {},
  ): CacheRecordStore {
    validateNamespace(namespace);
    const timeout = Math.trunc(options.busyTimeoutMs ?? 5000);
    const sql = new DatabaseSync(db.path, { timeout });
    try {
      sql.exec(`PRAGMA busy_timeout = ${timeout}`);
      const table = sql
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'cache_records'")
        .get();
      if (table === undefined) {
        throw new FailedPreconditionError(
          `cannot open cache records in ${db.path}: table cache_records missing (schema older than v3)`,
        );
      }
    } catch (err) {
      sql.close();
      throw err;
    }
    return new CacheRecordStore(sql, namespace);
  }

  /** The record `id`, or undefined. */
  get(id: string): CacheRecord | undefined {
    const row = this.#query<Row>(
      "SELECT * FROM cache_records WHERE namespace = ? AND id = ?",
      id,
    )[0];
    return row === undefined ? undefined : fromRow(row);
  }

  /** The record `id`. @throws {NotFoundError} when there is none. */
  require(id: string): CacheRecord {
    const r = this.get(id);
    if (r === undefined) {
      throw new NotFoundError(
        `cache record ${JSON.stringify(id)} in "${this.namespace}": not found`,
      );
    }
    return r;
  }

  /** Every record, oldest first. */
  list(): CacheRecord[] {
    return this.#query<Row>(
      "SELECT * FROM cache_records WHERE namespace = ? ORDER BY created_at, id",
    ).map(fromRow);
  }

  /** The records whose chain ID is `chainID`, oldest first. */
  byChainID(chainID: Digest): CacheRecord[] {
    return this.#query<Row>(
      "SELECT * FROM cache_records WHERE namespace = ? AND chain_id = ? ORDER BY created_at, id",
      chainID,
    ).map(fromRow);
  }

  /** The records whose blob chain ID is `blobChainID`, oldest first. */
  byBlobChainID(blobChainID: Digest): CacheRecord[] {
    return this.#query<Row>(
      "SELECT * FROM cache_records WHERE namespace = ? AND blob_chain_id = ? ORDER BY created_at, id",
      blobChainID,
    ).map(fromRow);
  }

  /** The records that name `id` as parent, merge input or diff input. */
  children(id: string): CacheRecord[] {
    return this.#query<Row>(
      `SELECT c.* FROM cache_records c WHERE c.namespace = ?1 AND (c.parent = ?2
         OR c.equal_mutable = ?2 OR c.lower_diff_parent = ?2 OR c.upper_diff_parent = ?2
         OR EXISTS (SELECT 1 FROM json_each(c.merge_parents) WHERE value = ?2))
       ORDER BY c.created_at, c.id`,
      id,
    ).map(fromRow);
  }

  /**
   * Inserts or replaces a record.
   *
   * @throws {InvalidArgumentError} on an empty id or snapshot id, an unknown
   *   kind, a malformed digest, or more than one kind of parent.
   */
  put(record: CacheRecord): void {
    validate(record);
    this.#open();
    this.#sql
      .prepare(
        `INSERT OR REPLACE INTO cache_records (namespace, id, kind, committed, snapshot_id, equal_mutable,
          parent, merge_parents, lower_diff_parent, upper_diff_parent, blob, diff_id, chain_id,
          blob_chain_id, media_type, blob_size, blob_only, urls, image_refs, size, cache_policy,
          record_type, description, created_at, last_used_at, usage_count, deleted, labels, extra)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        this.namespace,
        record.id,
        record.kind,
        record.committed ? 1 : 0,
        record.snapshotID,
        record.equalMutable ?? null,
        record.parent ?? null,
        JSON.stringify(record.mergeParents),
        record.lowerDiffParent ?? null,
        record.upperDiffParent ?? null,
        record.blob ?? null,
        record.diffID ?? null,
        record.chainID ?? null,
        record.blobChainID ?? null,
        record.mediaType ?? null,
        record.blobSize ?? null,
        record.blobOnly ? 1 : 0,
        JSON.stringify(record.urls),
        JSON.stringify(record.imageRefs),
        record.size,
        record.cachePolicy,
        record.recordType,
        record.description,
        record.createdAt.getTime(),
        record.lastUsedAt?.getTime() ?? null,
        record.usageCount,
        record.deleted ? 1 : 0,
        JSON.stringify(record.labels),
        JSON.stringify(record.extra),
      );
  }

  /**
   * Reads `id`, applies `fn` to a copy and stores the result; returns it.
   *
   * @throws {NotFoundError} when there is no record `id`.
   */
  update(id: string, fn: (record: CacheRecord) => void): CacheRecord {
    const r = this.require(id);
    fn(r);
    if (r.id !== id) throw new InvalidArgumentError(`cannot update cache record ${id}: id changed`);
    this.put(r);
    return r;
  }

  /** Deletes record `id`; returns whether it existed. */
  delete(id: string): boolean {
    this.#open();
    const n = this.#sql
      .prepare("DELETE FROM cache_records WHERE namespace = ? AND id = ?")
      .run(this.namespace, id).changes;
    return Number(n) > 0;
  }

  /** Closes this store's connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sql.close();
  }

  #query<T>(query: string, ...params: SQLInputValue[]): T[] {
    this.#open();
    return this.#sql.prepare(query).all(this.namespace, ...params) as T[];
  }

  #open(): void {
    if (this.#closed) throw new UnavailableError("cache record store is closed");
  }
}
