import type { ErrorCode } from "./codes.ts";
import { errorFromCode, type StrataError } from "./errors.ts";
import { codeOf } from "./guards.ts";

/** The class each Node system error code (`err.code`) falls in. */
export const SYSTEM_ERROR_CODES: Readonly<Record<string, ErrorCode>> = {
  ENOENT: "not_found",
  ENOTDIR: "not_found",
  EEXIST: "already_exists",
  ENOTEMPTY: "failed_precondition",
  EISDIR: "failed_precondition",
  EROFS: "failed_precondition",
  EXDEV: "failed_precondition",
  EACCES: "permission_denied",
  EPERM: "permission_denied",
  ENOSPC: "resource_exhausted",
  EDQUOT: "resource_exhausted",
  EMFILE: "resource_exhausted",
  ENFILE: "resource_exhausted",
  ENOMEM: "resource_exhausted",
  EFBIG: "resource_exhausted",
  EINVAL: "invalid_argument",
  ELOOP: "invalid_argument",
  ENAMETOOLONG: "invalid_argument",
  EBADF: "invalid_argument",
  EBUSY: "unavailable",
  EAGAIN: "unavailable",
  ETIMEDOUT: "unavailable",
  ECONNREFUSED: "unavailable",
  ECONNRESET: "unavailable",
  EPIPE: "unavailable",
  EHOSTUNREACH: "unavailable",
  ENETUNREACH: "unavailable",
  ENOSYS: "not_implemented",
  ENOTSUP: "not_implemented",
  EOPNOTSUPP: "not_implemented",
  EIO: "internal",
};

/**
 * Wraps a Node system error (`ENOENT`, `EEXIST`, `ENOSPC`, ...) in the Strata
 * error of its class, with `context` leading the message and the original as
 * `cause`. An error that already has a code is returned as it is; anything
 * unmapped becomes Unknown.
 *
 * @example
 * ```ts
 * try {
 *   await fs.stat(path);
 * } catch (err) {
 *   throw fromSystemError(err, `cannot stat blob ${digest}`);
 * }
 * // NotFoundError: cannot stat blob sha256:...: ENOENT: no such file or directory, ...
 * ```
 */
export function fromSystemError(err: unknown, context?: string): StrataError | Error {
  if (codeOf(err) !== undefined) return err as Error;
  const sysCode =
    typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  const code = (typeof sysCode === "string" && SYSTEM_ERROR_CODES[sysCode]) || "unknown";
  const detail = err instanceof Error ? err.message : String(err);
  return errorFromCode(code, context ? `${context}: ${detail}` : detail, { cause: err });
}

/** Whether `err` is a Node system error with the given `code` (`"ENOENT"`, ...). */
export function isSystemError(err: unknown, code: string): boolean {
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === code;
}
