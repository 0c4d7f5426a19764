import { fromSystemError, InvalidArgumentError, NotFoundError } from "@strata/errdefs";

/** Maps an error of the addon to a Strata error, with `context` first. */
export function sysError(err: unknown, context: string): Error {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : "";
  const detail = err instanceof Error ? err.message : String(err);
  // Codes errdefs does not table, specific to these calls.
  if (code === "ENODATA") return new NotFoundError(`${context}: ${detail}`, { cause: err });
  if (code === "E2BIG" || code === "ERANGE") {
    return new InvalidArgumentError(`${context}: ${detail}`, { cause: err });
  }
  return fromSystemError(err, context);
}
