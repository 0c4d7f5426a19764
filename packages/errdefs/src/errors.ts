import type { ErrorCode } from "./codes.ts";

/**
 * The brand that marks a Strata error. It is a registered symbol, so an error
 * made by one installed copy of this package is recognised by another one,
 * where `instanceof` would fail.
 */
export const ERROR_BRAND: unique symbol = Symbol.for("@strata/errdefs.code");

/** Options of every Strata error class. */
export interface StrataErrorOptions {
  /** The error this one wraps; always pass it when wrapping. */
  cause?: unknown;
}

/**
 * The base class of Strata's errors: an `Error` with a {@link ErrorCode}.
 *
 * Throw one of the subclasses (`NotFoundError`, ...); test with the guards
 * (`isNotFound(err)`), which also look through `cause` chains and work across
 * two installed copies of this package.
 *
 * @example
 * ```ts
 * throw new NotFoundError(`content ${digest} not found`);
 * ```
 */
export class StrataError extends Error {
  /** The class of the failure. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: StrataErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    Object.defineProperty(this, ERROR_BRAND, { value: code, enumerable: false });
  }

  override name: string = "StrataError";
}

// Each subclass fixes the code and the name. They are written out one by one
// (not made by a factory) so that they are real classes for JSDoc, `instanceof`
// within one copy, and isolated declarations.

/** A failure with no better class. gRPC: Unknown. */
export class UnknownError extends StrataError {
  override name: string = "UnknownError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("unknown", message, options);
  }
}

/** The caller gave a malformed or forbidden argument. gRPC: InvalidArgument. */
export class InvalidArgumentError extends StrataError {
  override name: string = "InvalidArgumentError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("invalid_argument", message, options);
  }
}

/** The object asked for does not exist. gRPC: NotFound. */
export class NotFoundError extends StrataError {
  override name: string = "NotFoundError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("not_found", message, options);
  }
}

/** The object to create exists already. gRPC: AlreadyExists. */
export class AlreadyExistsError extends StrataError {
  override name: string = "AlreadyExistsError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("already_exists", message, options);
  }
}

/** The caller may not do this. gRPC: PermissionDenied. */
export class PermissionDeniedError extends StrataError {
  override name: string = "PermissionDeniedError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("permission_denied", message, options);
  }
}

/** A limit was reached: disk space, a size cap, a quota. gRPC: ResourceExhausted. */
export class ResourceExhaustedError extends StrataError {
  override name: string = "ResourceExhaustedError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("resource_exhausted", message, options);
  }
}

/** The system is not in the state the operation needs. gRPC: FailedPrecondition. */
export class FailedPreconditionError extends StrataError {
  override name: string = "FailedPreconditionError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("failed_precondition", message, options);
  }
}

/**
 * The operation conflicts with the current state (a concurrent change).
 * gRPC: FailedPrecondition with the message suffix ": conflict".
 */
export class ConflictError extends StrataError {
  override name: string = "ConflictError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("conflict", message, options);
  }
}

/**
 * The object was not changed since the version the caller has.
 * gRPC: FailedPrecondition with the message suffix ": not modified".
 */
export class NotModifiedError extends StrataError {
  override name: string = "NotModifiedError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("not_modified", message, options);
  }
}

/** The operation was aborted, typically by a concurrency issue. gRPC: Aborted. */
export class AbortedError extends StrataError {
  override name: string = "AbortedError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("aborted", message, options);
  }
}

/** An offset or a range lies outside what exists. gRPC: OutOfRange. */
export class OutOfRangeError extends StrataError {
  override name: string = "OutOfRangeError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("out_of_range", message, options);
  }
}

/** The operation is not implemented or not supported here. gRPC: Unimplemented. */
export class NotImplementedError extends StrataError {
  override name: string = "NotImplementedError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("not_implemented", message, options);
  }
}

/** An invariant of Strata itself broke. gRPC: Internal. */
export class InternalError extends StrataError {
  override name: string = "InternalError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("internal", message, options);
  }
}

/** The resource is busy or unreachable now; retrying may work. gRPC: Unavailable. */
export class UnavailableError extends StrataError {
  override name: string = "UnavailableError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("unavailable", message, options);
  }
}

/** Data was lost or corrupted. gRPC: DataLoss. */
export class DataLossError extends StrataError {
  override name: string = "DataLossError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("data_loss", message, options);
  }
}

/** The caller's credentials are missing or wrong. gRPC: Unauthenticated. */
export class UnauthenticatedError extends StrataError {
  override name: string = "UnauthenticatedError";
  constructor(message: string, options?: StrataErrorOptions) {
    super("unauthenticated", message, options);
  }
}

const CLASSES: Readonly<
  Record<ErrorCode, new (message: string, options?: StrataErrorOptions) => StrataError>
> = {
  unknown: UnknownError,
  invalid_argument: InvalidArgumentError,
  not_found: NotFoundError,
  already_exists: AlreadyExistsError,
  permission_denied: PermissionDeniedError,
  resource_exhausted: ResourceExhaustedError,
  failed_precondition: FailedPreconditionError,
  conflict: ConflictError,
  not_modified: NotModifiedError,
  aborted: AbortedError,
  out_of_range: OutOfRangeError,
  not_implemented: NotImplementedError,
  internal: InternalError,
  unavailable: UnavailableError,
  data_loss: DataLossError,
  unauthenticated: UnauthenticatedError,
};

/**
 * Makes an error of the class of `code`: what a decoder of codes (the gRPC
 * client, a JSON reader) calls.
 *
 * @example
 * ```ts
 * const err = errorFromCode("not_found", "lease \"build-1\" not found");
 * err instanceof NotFoundError; // true
 * ```
 */
export function errorFromCode(
  code: ErrorCode,
  message: string,
  options?: StrataErrorOptions,
): StrataError {
  return new CLASSES[code](message, options);
}
