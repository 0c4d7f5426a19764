import { type Code, ConnectError } from "@connectrpc/connect";
import { toGrpcStatus } from "@strata/errdefs";

/**
 * Turns any error into the ConnectError whose gRPC status containerd's client
 * decodes back into the same errdefs class (conflict and not-modified carry
 * their message suffix).
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const status = toGrpcStatus(err);
  return new ConnectError(status.message, status.code as Code, undefined, undefined, err);
}

/** Runs `fn` and rethrows its failure as a {@link toConnectError}. */
export async function mapErrors<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toConnectError(err);
  }
}
