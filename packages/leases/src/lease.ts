/** A lease: holds resources against garbage collection while it exists and has not expired. */
export interface Lease {
  id: string;
  createdAt: Date;
  labels: Record<string, string>;
}

/**
 * One resource held by a lease. `type` is `content` (id = digest), `ingests`
 * (id = ingest ref) or `snapshots/<snapshotter>` (id = snapshot key).
 */
export interface Resource {
  id: string;
  type: string;
}

/** Options of {@link LeaseManager.create}. */
export interface CreateLeaseOptions {
  /** The lease id; a random one ({@link generateLeaseId}) when absent. */
  id?: string;
  labels?: Record<string, string>;
  /** Milliseconds until expiry: sets the `containerd.io/gc.expire` label (RFC3339). */
  expiresIn?: number;
  signal?: AbortSignal;
}

/** Options of {@link LeaseManager.delete}. */
export interface DeleteLeaseOptions {
  /** Run garbage collection before returning, so the lease's resources are gone. */
  sync?: boolean;
  signal?: AbortSignal;
}

/** Creates, lists and deletes leases and the resources they hold, as containerd's `leases.Manager`. */
export interface LeaseManager {
  /**
   * Creates a lease.
   *
   * @throws {AlreadyExistsError} when a lease with that id exists.
   * @throws {InvalidArgumentError} on a bad label or a negative `expiresIn`.
   */
  create(options?: CreateLeaseOptions): Promise<Lease>;
  /** Deletes a lease; its resources become collectable. @throws {NotFoundError} when absent. */
  delete(lease: Pick<Lease, "id">, options?: DeleteLeaseOptions): Promise<void>;
  /** Leases that pass `filters` (fields `id`, `labels.<key>`); all without filters. */
  list(options?: { filters?: readonly string[]; signal?: AbortSignal }): Promise<Lease[]>;
  /**
   * Adds a resource to a lease (adding it twice is harmless).
   *
   * @throws {NotFoundError} when the lease is absent.
   * @throws {InvalidArgumentError} on a `content` id that is not a digest.
   * @throws {NotImplementedError} on an unknown resource type.
   */
  addResource(
    lease: Pick<Lease, "id">,
    resource: Resource,
    options?: { signal?: AbortSignal },
  ): Promise<void>;
  /** Removes a resource from a lease (absent resource is harmless). @throws {NotFoundError} when the lease is absent. */
  deleteResource(
    lease: Pick<Lease, "id">,
    resource: Resource,
    options?: { signal?: AbortSignal },
  ): Promise<void>;
  /** The resources of a lease. @throws {NotFoundError} when the lease is absent. */
  listResources(lease: Pick<Lease, "id">, options?: { signal?: AbortSignal }): Promise<Resource[]>;
}
