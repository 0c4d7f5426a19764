import type { DatabaseSync } from "node:sqlite";
import { FailedPreconditionError } from "@strata/errdefs";

// Each entry upgrades the schema from version i to i + 1 (PRAGMA user_version).
// Never edit a published entry: add a new one.
const MIGRATIONS: readonly string[] = [
  // v1: namespaces, content records, ingests, leases and their resources.
  `
  CREATE TABLE namespaces (
    name TEXT PRIMARY KEY,
    labels TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE content (
    namespace TEXT NOT NULL REFERENCES namespaces(name),
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, digest)
  ) STRICT;
  CREATE TABLE ingests (
    namespace TEXT NOT NULL REFERENCES namespaces(name),
    ref TEXT NOT NULL,
    backend_ref TEXT NOT NULL UNIQUE,
    expected TEXT,
    expires_at INTEGER,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, ref)
  ) STRICT;
  CREATE TABLE leases (
    namespace TEXT NOT NULL REFERENCES namespaces(name),
    id TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, id)
  ) STRICT;
  CREATE TABLE lease_resources (
    namespace TEXT NOT NULL,
    lease TEXT NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (namespace, lease, type, id),
    FOREIGN KEY (namespace, lease) REFERENCES leases(namespace, id) ON DELETE CASCADE
  ) STRICT;
  `,
  // v2: snapshot records (wired by the snapshot layer) and a lookup of lease
  // resources by object, used when an object is deleted.
  `
  CREATE TABLE snapshots (
    namespace TEXT NOT NULL REFERENCES namespaces(name),
    snapshotter TEXT NOT NULL,
    key TEXT NOT NULL,
    backend_key TEXT,
    parent TEXT,
    kind TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, snapshotter, key)
  ) STRICT;
  CREATE INDEX lease_resources_by_object ON lease_resources(namespace, type, id);
  `,
  // v3: BuildKit's cache records (one row per ref record; see cache_records.ts),
  // looked up by chain ID and blob chain ID.
  `
  CREATE TABLE cache_records (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    committed INTEGER NOT NULL,
    snapshot_id TEXT NOT NULL,
    equal_mutable TEXT,
    parent TEXT,
    merge_parents TEXT NOT NULL DEFAULT '[]',
    lower_diff_parent TEXT,
    upper_diff_parent TEXT,
    blob TEXT,
    diff_id TEXT,
    chain_id TEXT,
    blob_chain_id TEXT,
    media_type TEXT,
    blob_size INTEGER,
    blob_only INTEGER NOT NULL DEFAULT 0,
    urls TEXT NOT NULL DEFAULT '[]',
    image_refs TEXT NOT NULL DEFAULT '[]',
    size INTEGER NOT NULL DEFAULT -1,
    cache_policy TEXT NOT NULL DEFAULT 'default',
    record_type TEXT NOT NULL DEFAULT 'regular',
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    usage_count INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    labels TEXT NOT NULL DEFAULT '{}',
    extra TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (namespace, id)
  ) STRICT;
  CREATE INDEX cache_records_by_chain_id ON cache_records(namespace, chain_id);
  CREATE INDEX cache_records_by_blob_chain_id ON cache_records(namespace, blob_chain_id);
  `,
  // v4: the snapshot layer (namespaced_snapshotter.ts): one sequence per
  // snapshotter for backend keys ("<namespace>/<seq>/<key>"), children by
  // parent, and records by backend key (GC's backend cleanup).
  `
  CREATE TABLE snapshot_sequences (
    snapshotter TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX snapshots_by_parent ON snapshots(namespace, snapshotter, parent);
  CREATE INDEX snapshots_by_backend_key ON snapshots(snapshotter, backend_key);
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * Brings the database to {@link SCHEMA_VERSION}, one migration per
 * transaction.
 *
 * @throws {FailedPreconditionError} when the file is newer than this code.
 */
export function migrate(db: DatabaseSync, path: string): void {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number } | undefined;
  let version = row?.user_version ?? 0;
  if (version > SCHEMA_VERSION) {
    throw new FailedPreconditionError(
      `cannot open metadata database ${path}: schema version ${version} is newer than ${SCHEMA_VERSION}`,
    );
  }
  while (version < SCHEMA_VERSION) {
    db.exec("BEGIN IMMEDIATE");
    try {
      // Another handle may have migrated while we waited for the lock.
      const now = (db.prepare("PRAGMA user_version").get() as { user_version: number })
        .user_version;
      if (now === version) {
        db.exec(MIGRATIONS[version] as string);
        db.exec(`PRAGMA user_version = ${version + 1}`);
      }
      db.exec("COMMIT");
    } catch (err) {
      db.exec("ROLLBACK");
      throw err;
    }
    version = (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
  }
}
