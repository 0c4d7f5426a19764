import type { IncomingHttpHeaders } from "node:http2";
import type { HandlerContext } from "@connectrpc/connect";
import { InvalidArgumentError } from "@strata/errdefs";

/** The metadata header containerd's clients put the namespace in. */
export const NAMESPACE_HEADER = "containerd-namespace";
/** The metadata header containerd's clients put the lease in. */
export const LEASE_HEADER = "containerd-lease";

/** How many records containerd puts in one List reply. */
export const LIST_BATCH = 100;

/** A header's value as a request gives it: Connect's Headers, or Node's raw HTTP/2 headers. */
export type HeaderSource = HandlerContext | IncomingHttpHeaders;

function isContext(from: HeaderSource): from is HandlerContext {
  return from.requestHeader instanceof Headers;
}

function header(from: HeaderSource, name: string): string {
  const value = isContext(from) ? from.requestHeader.get(name) : from[name];
  return value === null || value === undefined ? "" : String(value);
}

/** The namespace of a call; InvalidArgument when the client sent none, as containerd answers. */
export function namespaceOf(from: HeaderSource): string {
  const ns = header(from, NAMESPACE_HEADER);
  if (ns === "") {
    throw new InvalidArgumentError("namespace is required: set the containerd-namespace header");
  }
  return ns;
}

/**
 * Whether a call names a namespace. containerd calls a proxy plugin (a
 * snapshotter or content store it uses as its own backend) without one.
 */
export function hasNamespace(from: HeaderSource): boolean {
  return header(from, NAMESPACE_HEADER) !== "";
}

/** The lease of a call, if the client sent one. */
export function leaseOf(from: HeaderSource): string | undefined {
  const lease = header(from, LEASE_HEADER);
  return lease === "" ? undefined : lease;
}

/**
 * Runs a callback walk and groups what it reports into List replies of
 * {@link LIST_BATCH}. The walk finishes before the first reply goes out, so
 * a failing walk sends nothing.
 */
export async function listBatches<T>(
  walk: (add: (item: T) => void) => Promise<void>,
): Promise<T[][]> {
  const out: T[][] = [];
  const batch: T[] = [];
  await walk((item) => {
    batch.push(item);
    if (batch.length === LIST_BATCH) out.push(batch.splice(0));
  });
  if (batch.length > 0) out.push(batch);
  return out;
}
