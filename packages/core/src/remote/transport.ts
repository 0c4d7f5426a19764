import type * as http2 from "node:http2";
import { connect as netConnect } from "node:net";
import type { Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
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

// HTTP/2 flow control: what the daemon may send before this client says it
// has read it, per stream and per connection. The protocol's default, 64 KiB
// for both, makes a 1 MiB Read reply wait on sixteen window updates.
const STREAM_WINDOW_BYTES = 4 << 20;
const CONNECTION_WINDOW_BYTES = 16 << 20;

// Widens the connection's receive window on the first request of each
// session (connect-node opens sessions itself; a stream knows its session).
class WideWindowSessionManager extends Http2SessionManager {
  readonly #widened = new WeakSet<http2.Http2Session>();

  override async request(
    method: string,
    path: string,
    headers: http2.OutgoingHttpHeaders,
    options: Omit<http2.ClientSessionRequestOptions, "signal">,
  ): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(method, path, headers, options);
    const session = stream.session;
    if (session !== undefined && !this.#widened.has(session)) {
      this.#widened.add(session);
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    }
    return stream;
  }
}

/**
 * A gRPC transport to the daemon that can also open a call's HTTP/2 stream
 * directly, on the same connection, for the calls that move blobs (their
 * messages are framed by hand instead of joined and copied).
 */
export interface DaemonTransport extends Transport {
  /**
   * Opens the stream of a gRPC call to `path` (`/package.Service/Method`)
   * with `headers` added to gRPC's own. The caller writes the request
   * messages and reads the replies and the status in the trailers.
   */
  openCall(path: string, headers: Record<string, string>): Promise<http2.ClientHttp2Stream>;
}

/** A gRPC transport over HTTP/2 on the daemon's unix socket. */
export function daemonTransport(address: string): DaemonTransport {
  const path = socketPathOf(address);
  const options: http2.ClientSessionOptions = {
    createConnection: () => netConnect(path),
    settings: { initialWindowSize: STREAM_WINDOW_BYTES },
  };
  const sessions = new WideWindowSessionManager("http://localhost", {}, options);
  const transport = createGrpcTransport({
    baseUrl: "http://localhost",
    readMaxBytes: MAX_MESSAGE_BYTES,
    writeMaxBytes: MAX_MESSAGE_BYTES,
    nodeOptions: options,
    sessionManager: sessions,
  });
  return {
    unary: transport.unary.bind(transport),
    stream: transport.stream.bind(transport),
    openCall: (callPath, headers) =>
      sessions.request(
        "POST",
        callPath,
        { "content-type": "application/grpc+proto", te: "trailers", ...headers },
        {},
      ),
  };
}
