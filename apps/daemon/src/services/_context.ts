import type { HandlerContext } from "@connectrpc/connect";
import { InvalidArgumentError } from "@strata/errdefs";

/** The metadata header containerd's clients put the namespace in. */
export const NAMESPACE_HEADER = "containerd-namespace";
/** The metadata header containerd's clients put the lease in. */
export const LEASE_HEADER = "containerd-lease";

/** The namespace of a call; InvalidArgument when the client sent none, as containerd answers. */
export function namespaceOf(ctx: HandlerContext): string {
  const ns = ctx.requestHeader.get(NAMESPACE_HEADER);
  if (ns === null || ns === "") {
    throw new InvalidArgumentError("namespace is required: set the containerd-namespace header");
  }
  return ns;
}

/** The lease of a call, if the client sent one. */
export function leaseOf(ctx: HandlerContext): string | undefined {
  const lease = ctx.requestHeader.get(LEASE_HEADER);
  return lease === null || lease === "" ? undefined : lease;
}
