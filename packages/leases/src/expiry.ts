import { InvalidArgumentError } from "@strata/errdefs";
import { LABEL_GC_EXPIRE } from "./labels.ts";

/**
 * The `containerd.io/gc.expire` value for a lease expiring `ms` from `now`
 * (RFC3339 with milliseconds, which Go's RFC3339 parser accepts).
 *
 * @throws {InvalidArgumentError} when `ms` is negative or not finite.
 */
export function expireLabel(ms: number, now: Date = new Date()): string {
  if (!Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError(
      `cannot set lease expiry: expiresIn ${ms} is not a non-negative number of ms`,
    );
  }
  return new Date(now.getTime() + ms).toISOString();
}

/**
 * When a lease expires, from its labels; undefined when it has no
 * `containerd.io/gc.expire` label or the value does not parse (containerd
 * then keeps the lease).
 */
export function leaseExpiry(labels: Readonly<Record<string, string>>): Date | undefined {
  const value = labels[LABEL_GC_EXPIRE];
  if (value === undefined || value === "") return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : new Date(time);
}
