/**
 * Strata's error classes, one per containerd errdefs code, with guards that
 * work across installed copies, the gRPC status table containerd uses, and the
 * mapping of Node system errors.
 *
 * @example
 * ```ts
 * import { NotFoundError, isNotFound } from "@strata/errdefs";
 *
 * try {
 *   throw new NotFoundError(`content ${digest}: not found`);
 * } catch (err) {
 *   if (isNotFound(err)) console.log("missing");
 * }
 * ```
 *
 * @module
 */
export { CLASS_TEXT, ERROR_CODES, type ErrorCode, isErrorCode } from "./codes.ts";
export {
  AbortedError,
  AlreadyExistsError,
  ConflictError,
  DataLossError,
  ERROR_BRAND,
  errorFromCode,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  NotModifiedError,
  OutOfRangeError,
  PermissionDeniedError,
  ResourceExhaustedError,
  StrataError,
  type StrataErrorOptions,
  UnauthenticatedError,
  UnavailableError,
  UnknownError,
} from "./errors.ts";
export {
  fromGrpcStatus,
  GRPC_STATUS,
  type GrpcStatus,
  type GrpcStatusCode,
  grpcCodeOf,
  toGrpcStatus,
} from "./grpc.ts";
export {
  codeOf,
  hasCode,
  isAborted,
  isAlreadyExists,
  isCanceled,
  isConflict,
  isDataLoss,
  isDeadlineExceeded,
  isFailedPrecondition,
  isInternal,
  isInvalidArgument,
  isNotFound,
  isNotImplemented,
  isNotModified,
  isOutOfRange,
  isPermissionDenied,
  isResourceExhausted,
  isUnauthenticated,
  isUnavailable,
  isUnknown,
} from "./guards.ts";
export { fromSystemError, isSystemError, SYSTEM_ERROR_CODES } from "./system.ts";
