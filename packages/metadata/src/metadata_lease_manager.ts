import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "@strata/errdefs";
import { objectAdaptor, parseFilters } from "@strata/filters";
import {
  type CreateLeaseOptions,
  type DeleteLeaseOptions,
  expireLabel,
  generateLeaseId,
  LABEL_GC_EXPIRE,
  type Lease,
  type LeaseManager,
  type Resource,
  validateResource,
} from "@strata/leases";
import type { Core } from "./_core.ts";
import { parseLabels, validateLabels, validateNamespace } from "./_validate.ts";

interface LeaseRow {
  id: string;
  labels: string;
  created_at: number;
}

function toLease(row: LeaseRow): Lease {
  return { id: row.id, createdAt: new Date(row.created_at), labels: parseLabels(row.labels) };
}

/**
 * The leases of one namespace, stored in the metadata database. Deleting a
 * lease or a resource makes its objects collectable at the next GC;
 * `delete(…, { sync: true })` runs that GC before returning. Get it from
 * `MetadataDB.leases(namespace)`.
 */
export class MetadataLeaseManager implements LeaseManager {
  readonly namespace: string;
  readonly #core: Core;

  /** @internal Use `MetadataDB.leases`. @throws {InvalidArgumentError} on a bad namespace. */
  constructor(core: Core, namespace: string) {
    validateNamespace(namespace);
    this.#core = core;
    this.namespace = namespace;
  }

  /**
   * Creates a lease (random id when none is given).
   *
   * @throws {AlreadyExistsError} when the id is taken.
   * @throws {InvalidArgumentError} on an empty id, a bad label or a negative expiresIn.
   */
  async create(options?: CreateLeaseOptions): Promise<Lease> {
    options?.signal?.throwIfAborted();
    const id = options?.id ?? generateLeaseId();
    if (id === "") throw new InvalidArgumentError("cannot create lease: empty id");
    const labels = { ...(options?.labels ?? {}) };
    if (options?.expiresIn !== undefined) labels[LABEL_GC_EXPIRE] = expireLabel(options.expiresIn);
    validateLabels(labels, `cannot create lease "${id}"`);
    const now = Date.now();
    const core = this.#core;
    core.tx(() => {
      core.ensureNamespace(this.namespace);
      const n = core.run(
        "INSERT OR IGNORE INTO leases (namespace, id, labels, created_at) VALUES (?, ?, ?, ?)",
        this.namespace,
        id,
        JSON.stringify(labels),
        now,
      );
      if (n === 0) {
        throw new AlreadyExistsError(
          `lease "${id}" in namespace "${this.namespace}": already exists`,
        );
      }
    });
    core.onMutation(false);
    return { id, createdAt: new Date(now), labels };
  }

  /**
   * Deletes a lease; with `sync`, runs GC and waits for it.
   *
   * @throws {NotFoundError} when the lease is absent.
   */
  async delete(lease: Pick<Lease, "id">, options?: DeleteLeaseOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    const n = this.#core.tx(() =>
      this.#core.run("DELETE FROM leases WHERE namespace = ? AND id = ?", this.namespace, lease.id),
    );
    if (n === 0)
      throw new NotFoundError(`lease "${lease.id}" in namespace "${this.namespace}": not found`);
    this.#core.onMutation(true);
    if (options?.sync === true) await this.#core.gcAndWait();
  }

  /** Leases passing `filters` (`id`, `labels.<key>`). @throws {InvalidArgumentError} on a bad filter. */
  async list(options?: { filters?: readonly string[]; signal?: AbortSignal }): Promise<Lease[]> {
    options?.signal?.throwIfAborted();
    const filter = parseFilters(options?.filters ?? []);
    return this.#core
      .all<LeaseRow>(
        "SELECT id, labels, created_at FROM leases WHERE namespace = ? ORDER BY id",
        this.namespace,
      )
      .map(toLease)
      .filter((l) => filter.match(objectAdaptor({ fields: { id: l.id }, labels: l.labels })));
  }

  /**
   * Adds a resource (content digest, ingest ref, `snapshots/<name>` key).
   *
   * @throws {NotFoundError} when the lease is absent.
   * @throws {InvalidArgumentError} / {NotImplementedError} on a bad resource.
   */
  async addResource(
    lease: Pick<Lease, "id">,
    resource: Resource,
    options?: { signal?: AbortSignal },
  ): Promise<void> {
    options?.signal?.throwIfAborted();
    validateResource(resource);
    this.#core.tx(() => {
      this.#core.requireLease(this.namespace, lease.id);
      this.#core.addLeaseResource(this.namespace, lease.id, resource.type, resource.id);
    });
    this.#core.onMutation(false);
  }

  /** Removes a resource. @throws {NotFoundError} when the lease is absent. */
  async deleteResource(
    lease: Pick<Lease, "id">,
    resource: Resource,
    options?: { signal?: AbortSignal },
  ): Promise<void> {
    options?.signal?.throwIfAborted();
    validateResource(resource);
    this.#core.tx(() => {
      this.#core.requireLease(this.namespace, lease.id);
      this.#core.run(
        "DELETE FROM lease_resources WHERE namespace = ? AND lease = ? AND type = ? AND id = ?",
        this.namespace,
        lease.id,
        resource.type,
        resource.id,
      );
    });
    this.#core.onMutation(true);
  }

  /** The resources of a lease. @throws {NotFoundError} when the lease is absent. */
  async listResources(
    lease: Pick<Lease, "id">,
    options?: { signal?: AbortSignal },
  ): Promise<Resource[]> {
    options?.signal?.throwIfAborted();
    this.#core.requireLease(this.namespace, lease.id);
    return this.#core
      .all<Resource>(
        "SELECT id, type FROM lease_resources WHERE namespace = ? AND lease = ? ORDER BY type, id",
        this.namespace,
        lease.id,
      )
      .map((r) => ({ id: r.id, type: r.type }));
  }
}
