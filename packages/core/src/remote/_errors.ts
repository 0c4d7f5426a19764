import { ConnectError } from "@connectrpc/connect";
import { fromGrpcStatus } from "@strata/errdefs";

/** A call's failure as the errdefs class the server meant (the gRPC table, read back). */
export function fromRemote(err: unknown): unknown {
  if (err instanceof ConnectError) {
    return fromGrpcStatus({ code: err.code, message: err.rawMessage });
  }
  return err;
}

/** Runs a call and rethrows its failure as an errdefs error. */
export async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fromRemote(err);
  }
}
