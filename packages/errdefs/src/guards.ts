import { type ErrorCode, isErrorCode } from "./codes.ts";
import { ERROR_BRAND } from "./errors.ts";

// How deep a cause chain is followed; a guard must end even on a cycle.
const MAX_CAUSE_DEPTH = 32;

function brandOf(value: unknown): ErrorCode | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const code = (value as { [ERROR_BRAND]?: unknown })[ERROR_BRAND];
  return isErrorCode(code) ? code : undefined;
}

/**
 * The code of an error: the first branded error found along its `cause`
 * chain (so a wrapped `NotFoundError` still counts as not found), or
 * `undefined` when there is none. Works across installed copies of this
 * package, since the brand is a registered symbol.
 *
 * @example
 * ```ts
 * codeOf(new NotFoundError("no such blob")); // "not_found"
 * codeOf(new Error("x", { cause: new ConflictError("y") })); // "conflict"
 * codeOf(new Error("plain")); // undefined
 * ```
 */
export function codeOf(err: unknown): ErrorCode | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current != null; depth++) {
    const code = brandOf(current);
    if (code !== undefined) return code;
    if (typeof current !== "object") return undefined;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Whether `err` (or an error in its cause chain) has the given code. */
export function hasCode(err: unknown, code: ErrorCode): boolean {
  return codeOf(err) === code;
}

/** Whether `err` or its cause chain is an {@link UnknownError}. */
export const isUnknown = (err: unknown): boolean => hasCode(err, "unknown");
/** Whether `err` or its cause chain is an {@link InvalidArgumentError}. */
export const isInvalidArgument = (err: unknown): boolean => hasCode(err, "invalid_argument");
/** Whether `err` or its cause chain is a {@link NotFoundError}. */
export const isNotFound = (err: unknown): boolean => hasCode(err, "not_found");
/** Whether `err` or its cause chain is an {@link AlreadyExistsError}. */
export const isAlreadyExists = (err: unknown): boolean => hasCode(err, "already_exists");
/** Whether `err` or its cause chain is a {@link PermissionDeniedError}. */
export const isPermissionDenied = (err: unknown): boolean => hasCode(err, "permission_denied");
/** Whether `err` or its cause chain is a {@link ResourceExhaustedError}. */
export const isResourceExhausted = (err: unknown): boolean => hasCode(err, "resource_exhausted");
/** Whether `err` or its cause chain is a {@link FailedPreconditionError}. */
export const isFailedPrecondition = (err: unknown): boolean => hasCode(err, "failed_precondition");
/** Whether `err` or its cause chain is a {@link ConflictError}. */
export const isConflict = (err: unknown): boolean => hasCode(err, "conflict");
/** Whether `err` or its cause chain is a {@link NotModifiedError}. */
export const isNotModified = (err: unknown): boolean => hasCode(err, "not_modified");
/** Whether `err` or its cause chain is an {@link AbortedError}. */
export const isAborted = (err: unknown): boolean => hasCode(err, "aborted");
/** Whether `err` or its cause chain is an {@link OutOfRangeError}. */
export const isOutOfRange = (err: unknown): boolean => hasCode(err, "out_of_range");
/** Whether `err` or its cause chain is a {@link NotImplementedError}. */
export const isNotImplemented = (err: unknown): boolean => hasCode(err, "not_implemented");
/** Whether `err` or its cause chain is an {@link InternalError}. */
export const isInternal = (err: unknown): boolean => hasCode(err, "internal");
/** Whether `err` or its cause chain is an {@link UnavailableError}. */
export const isUnavailable = (err: unknown): boolean => hasCode(err, "unavailable");
/** Whether `err` or its cause chain is a {@link DataLossError}. */
export const isDataLoss = (err: unknown): boolean => hasCode(err, "data_loss");
/** Whether `err` or its cause chain is an {@link UnauthenticatedError}. */
export const isUnauthenticated = (err: unknown): boolean => hasCode(err, "unauthenticated");

function hasName(err: unknown, name: string): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current != null; depth++) {
    if (typeof current !== "object") return false;
    if ((current as { name?: unknown }).name === name) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Whether `err` is a cancellation: the `AbortError` that `AbortSignal.abort()`
 * gives as its reason and that Node's APIs throw when their signal aborts,
 * also found in a cause chain.
 *
 * @example
 * ```ts
 * const ac = new AbortController();
 * ac.abort();
 * isCanceled(ac.signal.reason); // true
 * ```
 */
export function isCanceled(err: unknown): boolean {
  return hasName(err, "AbortError");
}

/**
 * Whether `err` is a passed deadline: the `TimeoutError` that
 * `AbortSignal.timeout()` gives as its reason, also found in a cause chain.
 */
export function isDeadlineExceeded(err: unknown): boolean {
  return hasName(err, "TimeoutError");
}
