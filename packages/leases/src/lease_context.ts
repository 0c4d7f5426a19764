import { AsyncLocalStorage } from "node:async_hooks";

const storage = new AsyncLocalStorage<string>();

/**
 * Runs `fn` with `id` as the current lease: {@link currentLease} returns it in
 * every async call `fn` makes, as containerd's `leases.WithLease(ctx, id)`.
 *
 * @example
 * ```ts
 * await withLease(lease.id, () => writeBlob(store, ref, bytes, desc));
 * ```
 */
export function withLease<T>(id: string, fn: () => T): T {
  return storage.run(id, fn);
}

/** The lease set by the innermost {@link withLease}, or undefined. */
export function currentLease(): string | undefined {
  return storage.getStore();
}
