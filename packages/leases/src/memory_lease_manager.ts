import { AlreadyExistsError, InvalidArgumentError, NotFoundError } from "@strata/errdefs";
import { type Filter, objectAdaptor, parseFilters } from "@strata/filters";
import { expireLabel } from "./expiry.ts";
import { generateLeaseId } from "./generate_lease_id.ts";
import { LABEL_GC_EXPIRE } from "./labels.ts";
import type {
  CreateLeaseOptions,
  DeleteLeaseOptions,
  Lease,
  LeaseManager,
  Resource,
} from "./lease.ts";
import { validateResource } from "./validate_resource.ts";

interface Entry {
  lease: Lease;
  resources: Map<string, Resource>;
}

/**
 * A {@link LeaseManager} in memory, with no garbage collector behind it: for
 * tests and for tools that only need the bookkeeping.
 */
export class MemoryLeaseManager implements LeaseManager {
  readonly #leases = new Map<string, Entry>();

  /** @throws {AlreadyExistsError} on a duplicate id; {InvalidArgumentError} on a bad expiresIn. */
  async create(options?: CreateLeaseOptions): Promise<Lease> {
    options?.signal?.throwIfAborted();
    const id = options?.id ?? generateLeaseId();
    if (id === "") throw new InvalidArgumentError("cannot create lease: empty id");
    if (this.#leases.has(id)) throw new AlreadyExistsError(`lease "${id}": already exists`);
    const labels = { ...(options?.labels ?? {}) };
    if (options?.expiresIn !== undefined) labels[LABEL_GC_EXPIRE] = expireLabel(options.expiresIn);
    const lease: Lease = { id, createdAt: new Date(), labels };
    this.#leases.set(id, { lease, resources: new Map() });
    return copyLease(lease);
  }

  /** @throws {NotFoundError} when the lease is absent. */
  async delete(lease: Pick<Lease, "id">, options?: DeleteLeaseOptions): Promise<void> {
    options?.signal?.throwIfAborted();
    if (!this.#leases.delete(lease.id)) throw new NotFoundError(`lease "${lease.id}": not found`);
  }

  /** @throws {InvalidArgumentError} on a bad filter. */
  async list(options?: { filters?: readonly string[]; signal?: AbortSignal }): Promise<Lease[]> {
    options?.signal?.throwIfAborted();
    const filter = parseLeaseFilters(options?.filters);
    return [...this.#leases.values()]
      .map((e) => e.lease)
      .filter((l) => filter.match(objectAdaptor({ fields: { id: l.id }, labels: l.labels })))
      .map(copyLease);
  }

  /** @throws {NotFoundError} when the lease is absent; see {@link validateResource}. */
  async addResource(lease: Pick<Lease, "id">, resource: Resource): Promise<void> {
    validateResource(resource);
    this.#entry(lease.id).resources.set(`${resource.type}\0${resource.id}`, { ...resource });
  }

  /** @throws {NotFoundError} when the lease is absent. */
  async deleteResource(lease: Pick<Lease, "id">, resource: Resource): Promise<void> {
    validateResource(resource);
    this.#entry(lease.id).resources.delete(`${resource.type}\0${resource.id}`);
  }

  /** @throws {NotFoundError} when the lease is absent. */
  async listResources(lease: Pick<Lease, "id">): Promise<Resource[]> {
    return [...this.#entry(lease.id).resources.values()].map((r) => ({ ...r }));
  }

  #entry(id: string): Entry {
    const entry = this.#leases.get(id);
    if (entry === undefined) throw new NotFoundError(`lease "${id}": not found`);
    return entry;
  }
}

function copyLease(lease: Lease): Lease {
  return { id: lease.id, createdAt: new Date(lease.createdAt), labels: { ...lease.labels } };
}

/**
 * Parses lease list filters (`id`, `labels.<key>`).
 *
 * @throws {InvalidArgumentError} on a malformed filter.
 */
export function parseLeaseFilters(filters: readonly string[] | undefined): Filter {
  return parseFilters(filters ?? []);
}
