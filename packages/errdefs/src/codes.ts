/**
 * The error codes of Strata: containerd's errdefs classes, one string each.
 *
 * Cancellation and deadlines are not codes: they travel as the reason of an
 * `AbortSignal` (an `AbortError` or `TimeoutError` DOMException), see
 * {@link isCanceled} and {@link isDeadlineExceeded}.
 *
 * @module
 */

/** Every error code, in containerd's order. */
export const ERROR_CODES = [
  "unknown",
  "invalid_argument",
  "not_found",
  "already_exists",
  "permission_denied",
  "resource_exhausted",
  "failed_precondition",
  "conflict",
  "not_modified",
  "aborted",
  "out_of_range",
  "not_implemented",
  "internal",
  "unavailable",
  "data_loss",
  "unauthenticated",
] as const;

/** One of {@link ERROR_CODES}. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * The text containerd's errdefs gives each class (`ErrNotFound` is "not found").
 * Go appends it when it wraps an error, and containerd's gRPC client reads it
 * back for conflict and not modified, which share FailedPrecondition on the wire.
 */
export const CLASS_TEXT: Readonly<Record<ErrorCode, string>> = {
  unknown: "unknown",
  invalid_argument: "invalid argument",
  not_found: "not found",
  already_exists: "already exists",
  permission_denied: "permission denied",
  resource_exhausted: "resource exhausted",
  failed_precondition: "failed precondition",
  conflict: "conflict",
  not_modified: "not modified",
  aborted: "aborted",
  out_of_range: "out of range",
  not_implemented: "not implemented",
  internal: "internal",
  unavailable: "unavailable",
  data_loss: "data loss",
  unauthenticated: "unauthenticated",
};

/**
 * Whether a value is one of the {@link ERROR_CODES}.
 *
 * @example
 * ```ts
 * isErrorCode("not_found"); // true
 * isErrorCode("missing"); // false
 * ```
 */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && (ERROR_CODES as readonly string[]).includes(value);
}
