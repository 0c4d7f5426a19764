import {
  AlreadyExistsError,
  codeOf,
  errorFromCode,
  FailedPreconditionError,
  InvalidArgumentError,
  isAlreadyExists,
  isNotFound,
  NotFoundError,
} from "@strata/errdefs";
import { objectAdaptor, parseFilters } from "@strata/filters";
import { currentLease, RESOURCE_SNAPSHOTS_PREFIX } from "@strata/leases";
import {
  type CommitOptions,
  LABEL_MERGE_USAGE_INODES,
  LABEL_MERGE_USAGE_SIZE,
  type Mount,
  type PrepareOptions,
  type SignalOptions,
  type SnapshotInfo,
  type Snapshotter,
  type UpdateOptions,
  type Usage,
  type WalkOptions,
} from "@strata/snapshots";
import type { Core, SnapshotterBackend } from "./_core.ts";
import {
  applyLabelUpdate,
  compactLabels,
  parseLabels,
  validateLabels,
  validateNamespace,
} from "./_validate.ts";

/**
 * Label naming the committed snapshot a prepare is meant to become, as
 * containerd's `containerd.io/snapshot.ref` (used by remote snapshotters):
 * when that snapshot already exists, prepare answers AlreadyExists.
 */
export const LABEL_SNAPSHOT_REF = "containerd.io/snapshot.ref";

/** Prefix of the labels passed down to backend snapshotters (containerd's rule). */
export const LABEL_SNAPSHOT_PREFIX = "containerd.io/snapshot/";

/** Options of {@link NamespacedSnapshotter}. */
export interface NamespacedSnapshotterOptions {
  /**
   * Lease that prepared, viewed and committed snapshots are added to.
   * Without it the lease set by `withLease` (from `@strata/leases`) is used,
   * if any.
   */
  lease?: string;
}

interface Row {
  key: string;
  backend_key: string | null;
  parent: string | null;
  kind: string;
  labels: string;
  created_at: number;
  updated_at: number;
}

const COLUMNS = "key, backend_key, parent, kind, labels, created_at, updated_at";

/**
 * The labels of `labels` a backend snapshotter gets: containerd's
 * `containerd.io/snapshot/*` and `containerd.io/snapshot.ref`, plus the
 * merge usage labels the backends read for their usage.
 */
function backendLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (
      key.startsWith(LABEL_SNAPSHOT_PREFIX) ||
      key === LABEL_SNAPSHOT_REF ||
      key === LABEL_MERGE_USAGE_SIZE ||
      key === LABEL_MERGE_USAGE_INODES
    ) {
      out[key] = value;
    }
  }
  return out;
}

function passesToBackend(fieldpath: string): boolean {
  if (fieldpath === "labels") return true;
  return Object.keys(backendLabels({ [fieldpath.slice("labels.".length)]: "x" })).length > 0;
}

/**
 * One snapshotter as one namespace sees it, as containerd's metadata
 * snapshotter: keys are this namespace's, each mapped to a unique backend
 * key (`<namespace>/<seq>/<key>`), so two namespaces may use the same key.
 * Names, parents, labels and times live in the database; the kind (and the
 * backend's own labels) come from the backend. Only `containerd.io/snapshot/`
 * labels and `containerd.io/snapshot.ref` reach the backend.
 *
 * `remove` drops only the record: the backend snapshot goes at the next GC,
 * once no record in any namespace uses it. A snapshot nothing holds (no
 * lease, no `containerd.io/gc.root` label, no reference from another object
 * or child) is collected by the next GC, as in containerd. With a lease,
 * prepare, view and commit add the new snapshot to it (resource type
 * `snapshots/<snapshotter>`).
 *
 * Get one from `MetadataDB.snapshotter(namespace, name, { lease })`.
 *
 * @example
 * ```ts
 * const sn = db.snapshotter("default", "overlayfs", { lease: "build-1" });
 * const mounts = await sn.prepare("extract-1", "");
 * // mount, write, unmount ...
 * await sn.commit("layer-1", "extract-1", { labels: { "containerd.io/gc.root": "keep" } });
 * ```
 */
export class NamespacedSnapshotter implements Snapshotter {
  /** The namespace. */
  readonly namespace: string;
  /** The snapshotter's name (`native`, `overlayfs`, ...). */
  readonly name: string;
  readonly #core: Core;
  readonly #entry: SnapshotterBackend;
  readonly #lease: string | undefined;
  #closed = false;

  /**
   * @internal Use `MetadataDB.snapshotter`.
   * @throws {InvalidArgumentError} on a bad namespace or an unknown snapshotter.
   */
  constructor(core: Core, namespace: string, name: string, options?: NamespacedSnapshotterOptions) {
    validateNamespace(namespace);
    const entry = core.snapshotters.get(name);
    if (entry === undefined) {
      const loaded = [...core.snapshotters.keys()].join(", ");
      throw new InvalidArgumentError(
        `snapshotter not loaded: ${name} (loaded: ${loaded === "" ? "none" : loaded})`,
      );
    }
    this.#core = core;
    this.#entry = entry;
    this.namespace = namespace;
    this.name = name;
    this.#lease = options?.lease;
  }

  get #backend(): Snapshotter {
    return this.#entry.backend;
  }

  get #resourceType(): string {
    return `${RESOURCE_SNAPSHOTS_PREFIX}${this.name}`;
  }

  /** The record of `key`. @throws {NotFoundError} */
  async stat(key: string, options: SignalOptions = {}): Promise<SnapshotInfo> {
    this.#check(options);
    const context = `cannot stat snapshot ${JSON.stringify(key)}`;
    const row = this.#require(key, context);
    const bkey = this.#backendKey(row, context);
    const info = await this.#call(key, bkey, () => this.#backend.stat(bkey, options));
    return merge(info, row);
  }

  /**
   * Changes the labels of `info.name` (fieldpaths as the Snapshotter
   * interface says); the backend gets the backend labels of the change.
   *
   * @throws {NotFoundError} for an unknown snapshot.
   * @throws {InvalidArgumentError} for an empty name, a field path other than labels, or labels over 4096 bytes.
   */
  async update(
    info: Pick<SnapshotInfo, "name"> & Partial<Pick<SnapshotInfo, "labels">>,
    options: UpdateOptions = {},
  ): Promise<SnapshotInfo> {
    this.#check(options);
    const name = info.name;
    const context = `cannot update snapshot ${JSON.stringify(name)}`;
    if (name === "") throw new InvalidArgumentError(`${context}: empty name`);
    const given = info.labels ?? {};
    const fieldpaths = options.fieldpaths ?? [];
    const row = this.#require(name, context);
    const bkey = this.#backendKey(row, context);
    validateLabels(applyLabelUpdate(parseLabels(row.labels), given, fieldpaths, context), context);

    const backendPaths = fieldpaths.filter(passesToBackend);
    let backendInfo: SnapshotInfo;
    if (fieldpaths.length > 0 && backendPaths.length === 0) {
      backendInfo = await this.#call(name, bkey, () => this.#backend.stat(bkey, options));
    } else {
      backendInfo = await this.#call(name, bkey, () =>
        this.#backend.update(
          { name: bkey, labels: backendLabels(given) },
          { fieldpaths: backendPaths, ...signalOf(options) },
        ),
      );
    }
    const core = this.#core;
    const updated = core.tx(() => {
      const current = this.#require(name, context);
      const labels = applyLabelUpdate(parseLabels(current.labels), given, fieldpaths, context);
      const now = Math.max(Date.now(), current.updated_at + 1);
      core.run(
        "UPDATE snapshots SET labels = ?, updated_at = ? WHERE namespace = ? AND snapshotter = ? AND key = ?",
        JSON.stringify(labels),
        now,
        this.namespace,
        this.name,
        name,
      );
      return { ...current, labels: JSON.stringify(labels), updated_at: now };
    });
    core.onMutation(false);
    return merge(backendInfo, updated);
  }

  /** Disk use of `key` without its parents. @throws {NotFoundError} */
  async usage(key: string, options: SignalOptions = {}): Promise<Usage> {
    this.#check(options);
    const context = `cannot get usage of snapshot ${JSON.stringify(key)}`;
    const bkey = this.#backendKey(this.#require(key, context), context);
    return this.#call(key, bkey, () => this.#backend.usage(bkey, options));
  }

  /**
   * The mounts of an active snapshot or a view.
   *
   * @throws {NotFoundError} for an unknown key.
   * @throws {FailedPreconditionError} for a committed snapshot.
   */
  async mounts(key: string, options: SignalOptions = {}): Promise<Mount[]> {
    this.#check(options);
    const context = `cannot get mounts of snapshot ${JSON.stringify(key)}`;
    const bkey = this.#backendKey(this.#require(key, context), context);
    return this.#call(key, bkey, () => this.#backend.mounts(bkey, options));
  }

  /**
   * A new active snapshot `key` on committed `parent` (`""` for none),
   * added to the lease; returns its mounts.
   *
   * @throws {AlreadyExistsError} when `key` exists in this namespace, or the
   *   `containerd.io/snapshot.ref` target does (the target is then leased).
   * @throws {NotFoundError} when `parent` or the lease does not exist.
   * @throws {InvalidArgumentError} for an empty key, a parent that is not committed, or a label over 4096 bytes.
   */
  prepare(key: string, parent: string, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.#create("active", key, parent, options);
  }

  /** A new read-only view `key` of `parent`; errors as {@link prepare}. */
  view(key: string, parent: string, options: PrepareOptions = {}): Promise<Mount[]> {
    return this.#create("view", key, parent, options);
  }

  /**
   * Turns active `key` into committed `name` with only the labels given
   * here; `name` is added to the lease and `key` leaves every lease.
   *
   * @throws {NotFoundError} when `key` or the lease does not exist.
   * @throws {AlreadyExistsError} when `name` exists.
   * @throws {FailedPreconditionError} when `key` is a view or committed.
   * @throws {InvalidArgumentError} for an empty name or a label over 4096 bytes.
   */
  async commit(name: string, key: string, options: CommitOptions = {}): Promise<void> {
    this.#check(options);
    const context = `cannot commit snapshot ${JSON.stringify(key)} as ${JSON.stringify(name)}`;
    if (name === "") throw new InvalidArgumentError(`${context}: empty name`);
    const labels = compactLabels(options.labels ?? {});
    validateLabels(labels, context);
    const lease = this.#leaseId();
    const core = this.#core;
    const ns = this.namespace;
    const release = await this.#entry.lock.shared();
    try {
      // Reserve `name` first, pointing at the backend key it will get: a
      // crash after the backend commit then leaves a complete committed
      // record (and a stale active one, which GC drops), never nothing.
      const plan = core.tx(() => {
        if (lease !== undefined) core.requireLease(ns, lease);
        const active = this.#require(key, context);
        if (active.kind !== "active") {
          throw new FailedPreconditionError(`${context}: snapshot is a ${active.kind}, not active`);
        }
        if (this.#row(name) !== undefined) {
          throw new AlreadyExistsError(
            `${context}: snapshot ${JSON.stringify(name)} already exists in namespace "${ns}"`,
          );
        }
        const activeKey = this.#backendKey(active, context);
        const nameKey = this.#nextBackendKey(name);
        this.#insert(name, nameKey, active.parent, "committed", labels, lease);
        return { activeKey, nameKey, parent: active.parent };
      });
      core.onMutation(false);
      try {
        await this.#backend.commit(plan.nameKey, plan.activeKey, {
          labels: backendLabels(labels),
          ...signalOf(options),
        });
      } catch (err) {
        core.tx(() => {
          const n = core.run(
            "DELETE FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ? AND backend_key = ?",
            ns,
            this.name,
            name,
            plan.nameKey,
          );
          if (n > 0) this.#dropLeaseRefs(name);
        });
        throw this.#translate(err, [plan.activeKey, key], [plan.nameKey, name]);
      }
      core.tx(() => {
        core.run(
          "DELETE FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ? AND backend_key = ?",
          ns,
          this.name,
          key,
          plan.activeKey,
        );
        this.#dropLeaseRefs(key);
        // A GC between the two transactions may have swept the unheld
        // reservation: the commit still happened, so record it again.
        if (this.#row(name) === undefined) {
          const held =
            lease !== undefined &&
            core.get("SELECT 1 AS x FROM leases WHERE namespace = ? AND id = ?", ns, lease) !==
              undefined;
          this.#insert(
            name,
            plan.nameKey,
            plan.parent,
            "committed",
            labels,
            held ? lease : undefined,
          );
        }
      });
      core.onMutation(false);
    } finally {
      release();
    }
  }

  /**
   * Removes the record of `key` (and every lease's hold on it); the backend
   * snapshot is deleted by the next GC.
   *
   * @throws {NotFoundError} for an unknown key.
   * @throws {FailedPreconditionError} while it has children.
   */
  async remove(key: string, options: SignalOptions = {}): Promise<void> {
    this.#check(options);
    const context = `cannot remove snapshot ${JSON.stringify(key)}`;
    const core = this.#core;
    core.tx(() => {
      this.#require(key, context);
      const child = core.get<{ key: string }>(
        "SELECT key FROM snapshots WHERE namespace = ? AND snapshotter = ? AND parent = ? LIMIT 1",
        this.namespace,
        this.name,
        key,
      );
      if (child !== undefined) {
        throw new FailedPreconditionError(
          `${context}: cannot remove snapshot with child ${JSON.stringify(child.key)}`,
        );
      }
      core.run(
        "DELETE FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ?",
        this.namespace,
        this.name,
        key,
      );
      this.#dropLeaseRefs(key);
    });
    core.onMutation(true);
  }

  /**
   * Calls `fn` for each snapshot of this namespace that passes the filters
   * (`name`, `parent`, `kind`, `labels.<key>`), in key order. Records whose
   * backend snapshot is gone (a crash in the middle of a commit) are skipped.
   *
   * @throws {InvalidArgumentError} on a malformed filter.
   */
  async walk(
    fn: (info: SnapshotInfo) => void | Promise<void>,
    options: WalkOptions = {},
  ): Promise<void> {
    this.#check(options);
    const filter = parseFilters(options.filters ?? []);
    const rows = this.#core.all<Row>(
      `SELECT ${COLUMNS} FROM snapshots WHERE namespace = ? AND snapshotter = ? ORDER BY key`,
      this.namespace,
      this.name,
    );
    for (const row of rows) {
      options.signal?.throwIfAborted();
      if (row.backend_key === null) continue;
      let backendInfo: SnapshotInfo;
      try {
        backendInfo = await this.#backend.stat(row.backend_key, signalOf(options));
      } catch (err) {
        if (isNotFound(err)) continue;
        throw err;
      }
      const info = merge(backendInfo, row);
      const adaptor = objectAdaptor({
        fields: { name: info.name, parent: info.parent, kind: info.kind },
        labels: info.labels,
      });
      if (filter.match(adaptor)) await fn(info);
    }
  }

  /** Ends the use of this view (the backend stays open: the database's owner closes it). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
  }

  async #create(
    kind: "active" | "view",
    key: string,
    parent: string,
    options: PrepareOptions,
  ): Promise<Mount[]> {
    this.#check(options);
    const verb = kind === "active" ? "prepare" : "view";
    const context = `cannot ${verb} snapshot ${JSON.stringify(key)}`;
    if (key === "") throw new InvalidArgumentError(`${context}: empty key`);
    const labels = compactLabels(options.labels ?? {});
    validateLabels(labels, context);
    const lease = this.#leaseId();
    const target = labels[LABEL_SNAPSHOT_REF];
    const core = this.#core;
    const ns = this.namespace;
    const release = await this.#entry.lock.shared();
    try {
      const plan = core.tx(() => {
        core.ensureNamespace(ns);
        if (lease !== undefined) core.requireLease(ns, lease);
        if (this.#row(key) !== undefined) {
          throw new AlreadyExistsError(
            `${context}: snapshot ${JSON.stringify(key)} already exists in namespace "${ns}"`,
          );
        }
        if (target !== undefined && this.#row(target) !== undefined) {
          // As containerd: the caller's lease takes the target, and the
          // transaction commits so it keeps it; the caller sees AlreadyExists.
          if (lease !== undefined) core.addLeaseResource(ns, lease, this.#resourceType, target);
          return undefined;
        }
        let parentKey = "";
        if (parent !== "") {
          const p = this.#row(parent);
          if (p === undefined) {
            throw new NotFoundError(
              `${context}: parent ${JSON.stringify(parent)} not found in namespace "${ns}"`,
            );
          }
          if (p.kind !== "committed") {
            throw new InvalidArgumentError(
              `${context}: parent ${JSON.stringify(parent)} is not committed (${p.kind})`,
            );
          }
          parentKey = this.#backendKey(p, context);
        }
        return { backendKey: this.#nextBackendKey(key), parentKey };
      });
      if (plan === undefined) {
        core.onMutation(false);
        throw new AlreadyExistsError(
          `${context}: target snapshot ${JSON.stringify(target)} already exists`,
        );
      }
      const { backendKey, parentKey } = plan;
      let mounts: Mount[];
      try {
        const create = { labels: backendLabels(labels), ...signalOf(options) };
        mounts =
          kind === "active"
            ? await this.#backend.prepare(backendKey, parentKey, create)
            : await this.#backend.view(backendKey, parentKey, create);
      } catch (err) {
        if (
          target !== undefined &&
          isAlreadyExists(err) &&
          (await this.#adoptTarget(target, parent, parentKey, labels, lease))
        ) {
          throw new AlreadyExistsError(
            `${context}: target snapshot ${JSON.stringify(target)} already exists`,
            { cause: err },
          );
        }
        throw this.#translate(err, [backendKey, key], [parentKey, parent]);
      }
      try {
        core.tx(() => {
          if (lease !== undefined) core.requireLease(ns, lease);
          if (this.#row(key) !== undefined) {
            throw new AlreadyExistsError(
              `${context}: snapshot ${JSON.stringify(key)} already exists in namespace "${ns}"`,
            );
          }
          if (parent !== "" && this.#row(parent) === undefined) {
            throw new NotFoundError(
              `${context}: parent ${JSON.stringify(parent)} was removed in namespace "${ns}"`,
            );
          }
          this.#insert(key, backendKey, parent === "" ? null : parent, kind, labels, lease);
        });
      } catch (err) {
        // Nothing records the new backend snapshot: drop it now (GC would later).
        await this.#backend.remove(backendKey).catch(() => {});
        throw err;
      }
      core.onMutation(false);
      return mounts;
    } finally {
      release();
    }
  }

  // containerd's remote-snapshotter path: the backend already has a
  // committed snapshot for the target (with that label, on the same
  // parent); record it in this namespace under the target's name, lease it,
  // so the caller can answer AlreadyExists. False when there is none.
  async #adoptTarget(
    target: string,
    parent: string,
    parentKey: string,
    labels: Record<string, string>,
    lease: string | undefined,
  ): Promise<boolean> {
    let found: string | undefined;
    await this.#backend.walk((info) => {
      if (
        found === undefined &&
        info.kind === "committed" &&
        info.parent === parentKey &&
        info.labels[LABEL_SNAPSHOT_REF] === target
      ) {
        found = info.name;
      }
    });
    if (found === undefined) return false;
    const backendKey = found;
    const core = this.#core;
    core.tx(() => {
      if (lease !== undefined) core.requireLease(this.namespace, lease);
      if (this.#row(target) === undefined) {
        this.#insert(target, backendKey, parent === "" ? null : parent, "committed", labels, lease);
      } else if (lease !== undefined) {
        core.addLeaseResource(this.namespace, lease, this.#resourceType, target);
      }
    });
    core.onMutation(false);
    return true;
  }

  #leaseId(): string | undefined {
    return this.#lease ?? currentLease();
  }

  #row(key: string): Row | undefined {
    return this.#core.get<Row>(
      `SELECT ${COLUMNS} FROM snapshots WHERE namespace = ? AND snapshotter = ? AND key = ?`,
      this.namespace,
      this.name,
      key,
    );
  }

  #require(key: string, context: string): Row {
    const row = this.#row(key);
    if (row === undefined) {
      throw new NotFoundError(
        `${context}: snapshot ${JSON.stringify(key)} not found in namespace "${this.namespace}"`,
      );
    }
    return row;
  }

  #backendKey(row: Row, context: string): string {
    if (row.backend_key === null) {
      throw new NotFoundError(
        `${context}: snapshot ${JSON.stringify(row.key)} has no backend snapshot in "${this.name}"`,
      );
    }
    return row.backend_key;
  }

  // A fresh backend key (inside a transaction): never reused, so a backend
  // snapshot left by a crash can never be mistaken for a new one.
  #nextBackendKey(key: string): string {
    const row = this.#core.get<{ value: number }>(
      `INSERT INTO snapshot_sequences (snapshotter, value) VALUES (?, 1)
       ON CONFLICT (snapshotter) DO UPDATE SET value = value + 1 RETURNING value`,
      this.name,
    );
    return `${this.namespace}/${row?.value ?? 0}/${key}`;
  }

  #insert(
    key: string,
    backendKey: string,
    parent: string | null,
    kind: string,
    labels: Record<string, string>,
    lease: string | undefined,
  ): void {
    const now = Date.now();
    this.#core.run(
      `INSERT INTO snapshots (namespace, snapshotter, key, backend_key, parent, kind, labels, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      this.namespace,
      this.name,
      key,
      backendKey,
      parent,
      kind,
      JSON.stringify(labels),
      now,
      now,
    );
    if (lease !== undefined) {
      this.#core.addLeaseResource(this.namespace, lease, this.#resourceType, key);
    }
  }

  // Every lease of the namespace lets go of `key`: the key may be reused by
  // a new snapshot, which an old hold must not keep alive.
  #dropLeaseRefs(key: string): void {
    this.#core.run(
      "DELETE FROM lease_resources WHERE namespace = ? AND type = ? AND id = ?",
      this.namespace,
      this.#resourceType,
      key,
    );
  }

  async #call<T>(key: string, backendKey: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.#translate(err, [backendKey, key]);
    }
  }

  // The backend's error, with this namespace's keys in place of backend keys.
  #translate(err: unknown, ...pairs: [backendKey: string, key: string][]): unknown {
    const code = codeOf(err);
    if (code === undefined || !(err instanceof Error)) return err;
    let message = err.message;
    for (const [from, to] of pairs) if (from !== "") message = message.replaceAll(from, to);
    if (message === err.message) return err;
    return errorFromCode(code, message, { cause: err });
  }

  #check(options: SignalOptions): void {
    options.signal?.throwIfAborted();
    if (this.#closed) {
      throw new FailedPreconditionError(
        `snapshotter "${this.name}" of namespace "${this.namespace}" is closed`,
      );
    }
  }
}

function signalOf(options: SignalOptions): SignalOptions {
  return options.signal === undefined ? {} : { signal: options.signal };
}

// containerd's overlayInfo: kind and backend labels from the backend; name,
// parent, times and labels from the record (its labels win).
function merge(backend: SnapshotInfo, row: Row): SnapshotInfo {
  return {
    kind: backend.kind,
    name: row.key,
    parent: row.parent ?? "",
    labels: { ...backend.labels, ...parseLabels(row.labels) },
    created: new Date(row.created_at),
    updated: new Date(row.updated_at),
  };
}
