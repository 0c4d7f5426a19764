import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import type { Store } from "@strata/content";
import { NotFoundError } from "@strata/errdefs";
import type { Snapshotter } from "@strata/snapshots";
import { RwLock } from "./_rw_lock.ts";
import type { GcStats } from "./gc_stats.ts";

/** A registered backend snapshotter and its lock (shared by creates, exclusive for GC cleanup). */
export interface SnapshotterBackend {
  readonly backend: Snapshotter;
  readonly lock: RwLock;
}

/** What the database, its content views and lease managers share. */
export class Core {
  readonly sql: DatabaseSync;
  readonly backend: Store;
  readonly lock: RwLock = new RwLock();
  /** Backend snapshotters by name (see namespaced_snapshotter.ts). */
  readonly snapshotters: Map<string, SnapshotterBackend> = new Map();
  /** Called after each committed write: `deletion` for deletes that free objects. */
  onMutation: (deletion: boolean) => void = () => {};
  /** Runs GC and waits (scheduler's ScheduleAndWait, or a direct run without scheduler). */
  gcAndWait: () => Promise<GcStats> = () => Promise.reject(new Error("gc not wired"));
  #inTx = false;
  // Prepared statements by SQL text: preparing costs more than running a small one.
  readonly #statements = new Map<string, StatementSync>();

  constructor(sql: DatabaseSync, backend: Store) {
    this.sql = sql;
    this.backend = backend;
  }

  /**
   * Runs `fn` in one write transaction (BEGIN IMMEDIATE: other handles wait
   * up to busy_timeout). `fn` is synchronous, so nothing else on this handle
   * interleaves.
   */
  tx<T>(fn: () => T): T {
    if (this.#inTx) return fn();
    this.sql.exec("BEGIN IMMEDIATE");
    this.#inTx = true;
    try {
      const result = fn();
      this.sql.exec("COMMIT");
      return result;
    } catch (err) {
      try {
        this.sql.exec("ROLLBACK");
      } catch {
        // The transaction may already be gone (SQLite rolls back on some errors).
      }
      throw err;
    } finally {
      this.#inTx = false;
    }
  }

  #prepare(query: string): StatementSync {
    let statement = this.#statements.get(query);
    if (statement === undefined) {
      statement = this.sql.prepare(query);
      this.#statements.set(query, statement);
    }
    return statement;
  }

  /** One row, or undefined. */
  get<T>(query: string, ...params: SQLInputValue[]): T | undefined {
    return this.#prepare(query).get(...params) as T | undefined;
  }

  /** All rows. */
  all<T>(query: string, ...params: SQLInputValue[]): T[] {
    return this.#prepare(query).all(...params) as T[];
  }

  /** Runs a statement and returns the number of changed rows. */
  run(query: string, ...params: SQLInputValue[]): number {
    return Number(this.#prepare(query).run(...params).changes);
  }

  /** Creates the namespace row if missing (namespaces are implicit, as in containerd). */
  ensureNamespace(namespace: string): void {
    const now = Date.now();
    this.run(
      "INSERT OR IGNORE INTO namespaces (name, labels, created_at, updated_at) VALUES (?, '{}', ?, ?)",
      namespace,
      now,
      now,
    );
  }

  /** @throws {NotFoundError} when the lease does not exist in `namespace`. */
  requireLease(namespace: string, id: string): void {
    const row = this.get("SELECT 1 AS x FROM leases WHERE namespace = ? AND id = ?", namespace, id);
    if (row === undefined) {
      throw new NotFoundError(`lease "${id}" in namespace "${namespace}": not found`);
    }
  }

  /** Adds a resource to a lease (inside a transaction; the lease must exist). */
  addLeaseResource(namespace: string, lease: string, type: string, id: string): void {
    this.run(
      "INSERT OR IGNORE INTO lease_resources (namespace, lease, type, id) VALUES (?, ?, ?, ?)",
      namespace,
      lease,
      type,
      id,
    );
  }
}
