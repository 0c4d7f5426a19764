import { CLASS_TEXT, type ErrorCode } from "./codes.ts";
import { errorFromCode, type StrataError } from "./errors.ts";
import { codeOf, isCanceled, isDeadlineExceeded } from "./guards.ts";

/** gRPC status codes, by their names in the gRPC specification. */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** A gRPC status code number. */
export type GrpcStatusCode = (typeof GRPC_STATUS)[keyof typeof GRPC_STATUS];

const TO_GRPC: Readonly<Record<ErrorCode, GrpcStatusCode>> = {
  unknown: GRPC_STATUS.UNKNOWN,
  invalid_argument: GRPC_STATUS.INVALID_ARGUMENT,
  not_found: GRPC_STATUS.NOT_FOUND,
  already_exists: GRPC_STATUS.ALREADY_EXISTS,
  permission_denied: GRPC_STATUS.PERMISSION_DENIED,
  resource_exhausted: GRPC_STATUS.RESOURCE_EXHAUSTED,
  failed_precondition: GRPC_STATUS.FAILED_PRECONDITION,
  // containerd has no status of its own for these two: they travel as
  // FailedPrecondition and are told apart by the message's class suffix.
  conflict: GRPC_STATUS.FAILED_PRECONDITION,
  not_modified: GRPC_STATUS.FAILED_PRECONDITION,
  aborted: GRPC_STATUS.ABORTED,
  out_of_range: GRPC_STATUS.OUT_OF_RANGE,
  not_implemented: GRPC_STATUS.UNIMPLEMENTED,
  internal: GRPC_STATUS.INTERNAL,
  unavailable: GRPC_STATUS.UNAVAILABLE,
  data_loss: GRPC_STATUS.DATA_LOSS,
  unauthenticated: GRPC_STATUS.UNAUTHENTICATED,
};

const FROM_GRPC: ReadonlyMap<number, ErrorCode> = new Map([
  [GRPC_STATUS.UNKNOWN, "unknown"],
  [GRPC_STATUS.INVALID_ARGUMENT, "invalid_argument"],
  [GRPC_STATUS.NOT_FOUND, "not_found"],
  [GRPC_STATUS.ALREADY_EXISTS, "already_exists"],
  [GRPC_STATUS.PERMISSION_DENIED, "permission_denied"],
  [GRPC_STATUS.RESOURCE_EXHAUSTED, "resource_exhausted"],
  [GRPC_STATUS.FAILED_PRECONDITION, "failed_precondition"],
  [GRPC_STATUS.ABORTED, "aborted"],
  [GRPC_STATUS.OUT_OF_RANGE, "out_of_range"],
  [GRPC_STATUS.UNIMPLEMENTED, "not_implemented"],
  [GRPC_STATUS.INTERNAL, "internal"],
  [GRPC_STATUS.UNAVAILABLE, "unavailable"],
  [GRPC_STATUS.DATA_LOSS, "data_loss"],
  [GRPC_STATUS.UNAUTHENTICATED, "unauthenticated"],
] as const);

/** The gRPC status code for an error code, as containerd maps it. */
export function grpcCodeOf(code: ErrorCode): GrpcStatusCode {
  return TO_GRPC[code];
}

/** A gRPC status: what a server sends for a failed call. */
export interface GrpcStatus {
  /** The status code. */
  code: GrpcStatusCode;
  /** The status message. */
  message: string;
}

function withSuffix(message: string, text: string): string {
  return message === text || message.endsWith(`: ${text}`) ? message : `${message}: ${text}`;
}

/**
 * The gRPC status to send for an error, as containerd's server sends it.
 * Conflict and not-modified go as FailedPrecondition whose message ends in
 * ": conflict" / ": not modified", which is how containerd's client (and
 * {@link fromGrpcStatus}) tells them apart. Cancellation and deadlines become
 * CANCELLED and DEADLINE_EXCEEDED; an error without a code is UNKNOWN.
 *
 * @example
 * ```ts
 * toGrpcStatus(new ConflictError("lease in use"));
 * // { code: 9, message: "lease in use: conflict" }
 * ```
 */
export function toGrpcStatus(err: unknown): GrpcStatus {
  const message = err instanceof Error ? err.message : String(err);
  const code = codeOf(err);
  if (code === undefined) {
    if (isCanceled(err)) return { code: GRPC_STATUS.CANCELLED, message };
    if (isDeadlineExceeded(err)) return { code: GRPC_STATUS.DEADLINE_EXCEEDED, message };
    return { code: GRPC_STATUS.UNKNOWN, message };
  }
  if (code === "conflict" || code === "not_modified") {
    return {
      code: GRPC_STATUS.FAILED_PRECONDITION,
      message: withSuffix(message, CLASS_TEXT[code]),
    };
  }
  return { code: TO_GRPC[code], message };
}

/**
 * The error for a received gRPC status, as containerd's client decodes it:
 * FailedPrecondition whose message is or ends with ": conflict" or
 * ": not modified" becomes a {@link ConflictError} / {@link NotModifiedError},
 * and that suffix is taken off the message. CANCELLED and DEADLINE_EXCEEDED
 * become `AbortError` and `TimeoutError` DOMExceptions (the reasons an
 * `AbortSignal` carries); any other unmapped status is Unknown.
 *
 * @example
 * ```ts
 * const err = fromGrpcStatus({ code: 9, message: "lease in use: conflict" });
 * isConflict(err); // true
 * err.message; // "lease in use"
 * ```
 */
export function fromGrpcStatus(status: {
  code: number;
  message: string;
}): StrataError | DOMException {
  const { code, message } = status;
  if (code === GRPC_STATUS.CANCELLED) return new DOMException(message, "AbortError");
  if (code === GRPC_STATUS.DEADLINE_EXCEEDED) return new DOMException(message, "TimeoutError");
  if (code === GRPC_STATUS.FAILED_PRECONDITION) {
    for (const special of ["conflict", "not_modified"] as const) {
      const text = CLASS_TEXT[special];
      if (message === text) return errorFromCode(special, message);
      if (message.endsWith(`: ${text}`)) {
        return errorFromCode(special, message.slice(0, -(text.length + 2)));
      }
    }
  }
  return errorFromCode(FROM_GRPC.get(code) ?? "unknown", message);
}
