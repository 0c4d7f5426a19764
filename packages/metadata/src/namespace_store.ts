import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from "@strata/errdefs";
import type { Core } from "./_core.ts";
import { applyLabelUpdate, parseLabels, validateLabels, validateNamespace } from "./_validate.ts";

/** A namespace and its labels. */
export interface Namespace {
  name: string;
  labels: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
}

interface NamespaceRow {
  name: string;
  labels: string;
  created_at: number;
  updated_at: number;
}

function toNamespace(row: NamespaceRow): Namespace {
  return {
    name: row.name,
    labels: parseLabels(row.labels),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/**
 * The namespaces of the database. Writing anything in a namespace creates it,
 * as in containerd; names follow containerd's identifier rule
 * (`^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$`, at most 76 characters).
 * Get it from `MetadataDB.namespaces`.
 */
export class NamespaceStore {
  readonly #core: Core;

  /** @internal Use `MetadataDB.namespaces`. */
  constructor(core: Core) {
    this.#core = core;
  }

  /**
   * Creates a namespace.
   *
   * @throws {InvalidArgumentError} on a bad name or label.
   * @throws {AlreadyExistsError} when it exists.
   */
  async create(name: string, options?: { labels?: Record<string, string> }): Promise<Namespace> {
    validateNamespace(name);
    const labels = options?.labels ?? {};
    validateLabels(labels, `cannot create namespace "${name}"`);
    const now = Date.now();
    this.#core.tx(() => {
      const n = this.#core.run(
        "INSERT OR IGNORE INTO namespaces (name, labels, created_at, updated_at) VALUES (?, ?, ?, ?)",
        name,
        JSON.stringify(labels),
        now,
        now,
      );
      if (n === 0) throw new AlreadyExistsError(`namespace "${name}": already exists`);
    });
    this.#core.onMutation(false);
    return { name, labels: { ...labels }, createdAt: new Date(now), updatedAt: new Date(now) };
  }

  /** All namespaces, by name. */
  async list(): Promise<Namespace[]> {
    return this.#core
      .all<NamespaceRow>(
        "SELECT name, labels, created_at, updated_at FROM namespaces ORDER BY name",
      )
      .map(toNamespace);
  }

  /** @throws {NotFoundError} when absent; {InvalidArgumentError} on a bad name. */
  async get(name: string): Promise<Namespace> {
    validateNamespace(name);
    const row = this.#core.get<NamespaceRow>(
      "SELECT name, labels, created_at, updated_at FROM namespaces WHERE name = ?",
      name,
    );
    if (row === undefined) throw new NotFoundError(`namespace "${name}": not found`);
    return toNamespace(row);
  }

  /**
   * Changes labels, with the fieldpaths of content updates (`labels`,
   * `labels.<key>`; none = replace all).
   *
   * @throws {NotFoundError} when absent; {InvalidArgumentError} on a bad fieldpath or label.
   */
  async update(
    name: string,
    labels: Record<string, string>,
    options?: { fieldpaths?: readonly string[] },
  ): Promise<Namespace> {
    validateNamespace(name);
    const context = `cannot update namespace "${name}"`;
    const row = this.#core.tx(() => {
      const current = this.#core.get<NamespaceRow>(
        "SELECT name, labels, created_at, updated_at FROM namespaces WHERE name = ?",
        name,
      );
      if (current === undefined) throw new NotFoundError(`${context}: not found`);
      const next = applyLabelUpdate(
        parseLabels(current.labels),
        labels,
        options?.fieldpaths ?? [],
        context,
      );
      validateLabels(next, context);
      const now = Date.now();
      this.#core.run(
        "UPDATE namespaces SET labels = ?, updated_at = ? WHERE name = ?",
        JSON.stringify(next),
        now,
        name,
      );
      return { ...current, labels: JSON.stringify(next), updated_at: now };
    });
    this.#core.onMutation(false);
    return toNamespace(row);
  }

  /**
   * Deletes an empty namespace (its leases and ingests go with it).
   *
   * @throws {NotFoundError} when absent.
   * @throws {FailedPreconditionError} when content or snapshots remain.
   */
  async delete(name: string): Promise<void> {
    validateNamespace(name);
    this.#core.tx(() => {
      const exists = this.#core.get("SELECT 1 AS x FROM namespaces WHERE name = ?", name);
      if (exists === undefined)
        throw new NotFoundError(`cannot delete namespace "${name}": not found`);
      const content = this.#core.get<{ n: number }>(
        "SELECT count(*) AS n FROM content WHERE namespace = ?",
        name,
      );
      const snapshots = this.#core.get<{ n: number }>(
        "SELECT count(*) AS n FROM snapshots WHERE namespace = ?",
        name,
      );
      if ((content?.n ?? 0) > 0 || (snapshots?.n ?? 0) > 0) {
        throw new FailedPreconditionError(
          `cannot delete namespace "${name}": must be empty, has ${content?.n ?? 0} blobs and ${snapshots?.n ?? 0} snapshots`,
        );
      }
      this.#core.run("DELETE FROM leases WHERE namespace = ?", name);
      this.#core.run("DELETE FROM ingests WHERE namespace = ?", name);
      this.#core.run("DELETE FROM namespaces WHERE name = ?", name);
    });
    this.#core.onMutation(true);
  }
}
