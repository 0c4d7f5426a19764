import { connect as netConnect } from "node:net";
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InvalidArgumentError } from "@strata/errdefs";

/** The largest gRPC message sent or accepted, as containerd's client sets it. */
export const MAX_MESSAGE_BYTES: number = 16 << 20;

/**
 * The unix socket path of a daemon address: `unix:///run/x.sock`,
 * `unix:/run/x.sock` or a bare absolute path. InvalidArgument otherwise.
 */
export function socketPathOf(address: string): string {
  if (address.startsWith("unix://")) return address.slice("unix://".length);
  if (address.startsWith("unix:")) return address.slice("unix:".length);
  if (address.startsWith("/")) return address;
  throw new InvalidArgumentError(
    `daemon address "${address}" is not a unix socket (unix:///path/to/stratad.sock)`,
  );
}

/** A gRPC transport over HTTP/2 on the daemon's unix socket. */
export function daemonTransport(address: string): Transport {
  const path = socketPathOf(address);
  return createGrpcTransport({
    baseUrl: "http://localhost",
    readMaxBytes: MAX_MESSAGE_BYTES,
    writeMaxBytes: MAX_MESSAGE_BYTES,
    nodeOptions: { createConnection: () => netConnect(path) },
  });
}
