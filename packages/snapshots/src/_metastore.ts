import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "@strata/errdefs";
import { applyLabelUpdate, validateLabels } from "@strata/oci";
import type { SnapshotInfo, SnapshotKind, Usage } from "./snapshotter.ts";

/** A snapshot as its snapshotter sees it: the record plus directory id and ancestry. */
export interface StoredSnapshot {
  /** Names the snapshot's directory; never reused once committed to the database. */
  id: number;
  kind: SnapshotKind;
  /** Ids of the parents, nearest first. */
  parentIDs: number[];
}

interface Row {
  key: string;
  id: number;
  kind: SnapshotKind;
  parent: string | null;
  labels: string;
  created_at: number;
  updated_at: number;
  size: number | null;
  inodes: number | null;
}

// Version i → i + 1. Never edit a published entry: add one.
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
    parent TEXT REFERENCES snapshots(key),
    labels TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    size INTEGER,
    inodes INTEGER
  ) STRICT;
  CREATE INDEX snapshots_by_parent ON snapshots(parent);
  `,
];

/**
 * The record keeper of one snapshotter (containerd's `snapshots/storage`):
 * keys, kinds, parents, labels and committed usage in `metadata.db` inside
 * the snapshotter's root, SQLite in WAL mode. Every method is one
 * synchronous transaction, so nothing interleaves on this handle; other
 * processes wait on the write lock. The directory work that goes with a
 * change runs inside the same transaction through `onCommit` hooks, so a
 * record and its directory appear and vanish together (a crash leaves at
 * most an unrecorded directory, which cleanup removes).
 */
export class MetaStore {
  readonly #db: DatabaseSync;
  readonly #path: string;
  #inTx = false;

  private constructor(db: DatabaseSync, path: string) {
    this.#db = db;
    this.#path = path;
  }

  /** Opens (creating, migrating) the database at `path`. */
  static open(path: string): MetaStore {
    const db = new DatabaseSync(path, { timeout: 10_000 });
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
    const store = new MetaStore(db, path);
    store.#migrate();
    return store;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * Runs `fn` in one write transaction; `fn` is synchronous. When `fn`
   * throws, the transaction rolls back and the error propagates.
   */
  tx<T>(fn: () => T): T {
    if (this.#inTx) return fn();
    this.#db.exec("BEGIN IMMEDIATE");
    this.#inTx = true;
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw err;
    } finally {
      this.#inTx = false;
    }
  }

  /**
   * Records a new snapshot `key` of `kind` on `parent` (`""` for none);
   * `onCreate` runs inside the transaction (to move its directory in place).
   *
   * @throws {AlreadyExistsError} when `key` exists.
   * @throws {NotFoundError} when `parent` does not.
   * @throws {InvalidArgumentError} when `parent` is not committed, `key` is empty, or a label is invalid.
   */
  create(
    kind: "active" | "view" | "committed",
    key: string,
    parent: string,
    labels: Readonly<Record<string, string>>,
    onCreate?: (snapshot: StoredSnapshot) => void,
  ): StoredSnapshot {
    const context = `cannot create snapshot ${JSON.stringify(key)}`;
    if (key === "") throw new InvalidArgumentError(`${context}: empty key`);
    validateLabels(labels, context);
    return this.tx(() => {
      const parentIDs = this.#checkCreate(key, parent, context);
      const now = Date.now();
      const result = this.#db
        .prepare(
          "INSERT INTO snapshots (key, kind, parent, labels, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .run(key, kind, parent === "" ? null : parent, JSON.stringify(labels), now, now);
      const snapshot: StoredSnapshot = { id: Number(result.lastInsertRowid), kind, parentIDs };
      onCreate?.(snapshot);
      return snapshot;
    });
  }

  /**
   * Checks that `key` could be created on `parent` now, without creating
   * it; returns the parent's stored snapshot. Same errors as {@link create}.
   */
  checkCreate(
    key: string,
    parent: string,
    labels: Readonly<Record<string, string>>,
  ): StoredSnapshot | undefined {
    const context = `cannot create snapshot ${JSON.stringify(key)}`;
    validateLabels(labels, context);
    this.#checkCreate(key, parent, context);
    return parent === "" ? undefined : this.get(parent);
  }

  #checkCreate(key: string, parent: string, context: string): number[] {
    if (key === "") throw new InvalidArgumentError(`${context}: empty key`);
    if (this.#row(key) !== undefined) {
      throw new AlreadyExistsError(`${context}: snapshot ${JSON.stringify(key)} already exists`);
    }
    if (parent === "") return [];
    const p = this.#row(parent);
    if (p === undefined) {
      throw new NotFoundError(`${context}: parent ${JSON.stringify(parent)} not found`);
    }
    if (p.kind !== "committed") {
      throw new InvalidArgumentError(
        `${context}: parent ${JSON.stringify(parent)} is not committed (${p.kind})`,
      );
    }
    return [p.id, ...this.#parentIDs(p.parent)];
  }

  /** The stored snapshot of `key`. @throws {NotFoundError} */
  get(key: string): StoredSnapshot {
    const row = this.#require(key, `cannot get snapshot ${JSON.stringify(key)}`);
    return { id: row.id, kind: row.kind, parentIDs: this.#parentIDs(row.parent) };
  }

  /** The record of `key`. @throws {NotFoundError} */
  info(key: string): SnapshotInfo {
    return toInfo(this.#require(key, `cannot stat snapshot ${JSON.stringify(key)}`));
  }

  /** The committed usage stored for `key`, if any. @throws {NotFoundError} */
  storedUsage(key: string): Usage | undefined {
    const row = this.#require(key, `cannot get usage of snapshot ${JSON.stringify(key)}`);
    return row.size === null || row.inodes === null
      ? undefined
      : { size: row.size, inodes: row.inodes };
  }

  /**
   * Changes labels (see the Snapshotter's update).
   *
   * @throws {NotFoundError} for an unknown name.
   * @throws {InvalidArgumentError} for an empty name, another fieldpath, or invalid labels.
   */
  update(
    name: string,
    labels: Readonly<Record<string, string>>,
    fieldpaths: readonly string[],
  ): SnapshotInfo {
    const context = `cannot update snapshot ${JSON.stringify(name)}`;
    if (name === "") throw new InvalidArgumentError(`${context}: empty name`);
    return this.tx(() => {
      const row = this.#require(name, context);
      const next = applyLabelUpdate(JSON.parse(row.labels), labels, fieldpaths, context);
      const now = Math.max(Date.now(), row.updated_at + 1);
      this.#run(
        "UPDATE snapshots SET labels = ?, updated_at = ? WHERE key = ?",
        JSON.stringify(next),
        now,
        name,
      );
      return toInfo({ ...row, labels: JSON.stringify(next), updated_at: now });
    });
  }

  /**
   * Turns active `key` into committed `name` with `labels` and `usage`;
   * the id stays. `onCommit` runs inside the transaction.
   *
   * @throws {NotFoundError} for an unknown key.
   * @throws {AlreadyExistsError} when `name` exists.
   * @throws {FailedPreconditionError} when `key` is not active.
   */
  commit(
    name: string,
    key: string,
    labels: Readonly<Record<string, string>>,
    usage: Usage,
    onCommit?: (snapshot: StoredSnapshot) => void,
  ): StoredSnapshot {
    const context = `cannot commit snapshot ${JSON.stringify(key)} as ${JSON.stringify(name)}`;
    if (name === "") throw new InvalidArgumentError(`${context}: empty name`);
    validateLabels(labels, context);
    return this.tx(() => {
      const row = this.#require(key, context);
      if (row.kind !== "active") {
        throw new FailedPreconditionError(`${context}: snapshot is a ${row.kind}, not active`);
      }
      if (this.#row(name) !== undefined) {
        throw new AlreadyExistsError(`${context}: snapshot ${JSON.stringify(name)} already exists`);
      }
      const now = Date.now();
      this.#run(
        "UPDATE snapshots SET key = ?, kind = 'committed', labels = ?, created_at = ?, updated_at = ?, size = ?, inodes = ? WHERE id = ?",
        name,
        JSON.stringify(labels),
        now,
        now,
        usage.size,
        usage.inodes,
        row.id,
      );
      const snapshot: StoredSnapshot = {
        id: row.id,
        kind: "committed",
        parentIDs: this.#parentIDs(row.parent),
      };
      onCommit?.(snapshot);
      return snapshot;
    });
  }

  /**
   * Removes the record of `key`; `onRemove` runs inside the transaction
   * (to move the directory aside).
   *
   * @throws {NotFoundError} for an unknown key.
   * @throws {FailedPreconditionError} while it has children.
   */
  remove(key: string, onRemove?: (snapshot: StoredSnapshot) => void): StoredSnapshot {
    const context = `cannot remove snapshot ${JSON.stringify(key)}`;
    return this.tx(() => {
      const row = this.#require(key, context);
      const child = this.#db
        .prepare("SELECT key FROM snapshots WHERE parent = ? LIMIT 1")
        .get(key) as { key: string } | undefined;
      if (child !== undefined) {
        throw new FailedPreconditionError(
          `${context}: cannot remove snapshot with child ${JSON.stringify(child.key)}`,
        );
      }
      this.#run("DELETE FROM snapshots WHERE id = ?", row.id);
      const snapshot: StoredSnapshot = {
        id: row.id,
        kind: row.kind,
        parentIDs: this.#parentIDs(row.parent),
      };
      onRemove?.(snapshot);
      return snapshot;
    });
  }

  /** Every record, ordered by key. */
  list(): SnapshotInfo[] {
    return (this.#db.prepare("SELECT * FROM snapshots ORDER BY key").all() as unknown as Row[]).map(
      toInfo,
    );
  }

  /** The ids of all records (for cleanup), read inside the caller's transaction. */
  ids(): Set<number> {
    const rows = this.#db.prepare("SELECT id FROM snapshots").all() as unknown as { id: number }[];
    return new Set(rows.map((r) => r.id));
  }

  #parentIDs(parent: string | null): number[] {
    const ids: number[] = [];
    let next = parent;
    while (next !== null) {
      const row = this.#row(next);
      if (row === undefined) {
        throw new FailedPreconditionError(
          `snapshot database ${this.#path} is inconsistent: parent ${JSON.stringify(next)} is missing`,
        );
      }
      ids.push(row.id);
      next = row.parent;
    }
    return ids;
  }

  #row(key: string): Row | undefined {
    return this.#db.prepare("SELECT * FROM snapshots WHERE key = ?").get(key) as Row | undefined;
  }

  #require(key: string, context: string): Row {
    const row = this.#row(key);
    if (row === undefined) {
      throw new NotFoundError(`${context}: snapshot ${JSON.stringify(key)} not found`);
    }
    return row;
  }

  #run(query: string, ...params: SQLInputValue[]): void {
    this.#db.prepare(query).run(...params);
  }

  #migrate(): void {
    const version = () =>
      (this.#db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
    if (version() > MIGRATIONS.length) {
      throw new FailedPreconditionError(
        `cannot open snapshot database ${this.#path}: schema version ${version()} is newer than ${MIGRATIONS.length}`,
      );
    }
    while (version() < MIGRATIONS.length) {
      this.tx(() => {
        const v = version();
        if (v < MIGRATIONS.length) {
          this.#db.exec(MIGRATIONS[v] as string);
          this.#db.exec(`PRAGMA user_version = ${v + 1}`);
        }
      });
    }
  }
}

function toInfo(row: Row): SnapshotInfo {
  return {
    kind: row.kind,
    name: row.key,
    parent: row.parent ?? "",
    labels: JSON.parse(row.labels) as Record<string, string>,
    created: new Date(row.created_at),
    updated: new Date(row.updated_at),
  };
}
