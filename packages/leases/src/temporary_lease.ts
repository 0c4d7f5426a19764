import type { Lease, LeaseManager } from "./lease.ts";
import { currentLease, withLease } from "./lease_context.ts";

/** Label BuildKit puts on its temporary leases (value: creation time, RFC3339). */
export const LABEL_TEMPORARY = "buildkit/lease.temporary";

/** Default lifetime of a temporary lease: one hour, as BuildKit's leaseutil. */
export const DEFAULT_TEMPORARY_EXPIRY_MS: number = 60 * 60 * 1000;

/** Options of {@link withTemporaryLease}. */
export interface TemporaryLeaseOptions {
  /** Lifetime in ms if the process dies before cleanup (default one hour). */
  expiresIn?: number;
  /** Extra labels for the temporary lease. */
  labels?: Record<string, string>;
  /**
   * On success, move the temporary lease's resources into this lease before
   * deleting the temporary one, so what `fn` wrote outlives the call.
   */
  adoptInto?: string;
  /**
   * When a lease is already current ({@link withLease}) and `adoptInto` is not
   * set, run `fn` under that lease instead of creating one (BuildKit's
   * behaviour). Default true.
   */
  reuseCurrent?: boolean;
  signal?: AbortSignal;
}

/**
 * Runs `fn` under a fresh expiring lease (current for `fn` via
 * {@link withLease}). The lease is deleted when `fn` fails; when it succeeds
 * it is deleted too, after its resources were added to `adoptInto` if given.
 * If the process dies meanwhile, the expiry lets GC reclaim everything.
 *
 * @throws whatever `fn` throws (the lease is deleted first), and the errors of
 * the manager (NotFoundError when `adoptInto` does not exist).
 *
 * @example
 * ```ts
 * const digest = await withTemporaryLease(leases, async () => {
 *   await writeBlob(store, "layer-1", bytes, desc);
 *   return desc.digest;
 * }, { adoptInto: "build-42" });
 * ```
 */
export async function withTemporaryLease<T>(
  manager: LeaseManager,
  fn: (lease: Lease | undefined) => Promise<T>,
  options?: TemporaryLeaseOptions,
): Promise<T> {
  const current = currentLease();
  if (
    current !== undefined &&
    options?.adoptInto === undefined &&
    options?.reuseCurrent !== false
  ) {
    return fn(undefined);
  }
  const signal = options?.signal;
  const lease = await manager.create({
    labels: { ...(options?.labels ?? {}), [LABEL_TEMPORARY]: new Date().toISOString() },
    expiresIn: options?.expiresIn ?? DEFAULT_TEMPORARY_EXPIRY_MS,
    ...(signal === undefined ? {} : { signal }),
  });
  let result: T;
  try {
    result = await withLease(lease.id, () => fn(lease));
  } catch (err) {
    await manager.delete({ id: lease.id }).catch(() => {});
    throw err;
  }
  try {
    if (options?.adoptInto !== undefined) {
      const target = { id: options.adoptInto };
      for (const resource of await manager.listResources({ id: lease.id })) {
        await manager.addResource(target, resource);
      }
    }
  } finally {
    await manager.delete({ id: lease.id });
  }
  return result;
}
