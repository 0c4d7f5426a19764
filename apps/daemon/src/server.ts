import { chmod, chown, mkdir, rm } from "node:fs/promises";
import http2 from "node:http2";
import { dirname } from "node:path";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { fromSystemError, InvalidArgumentError } from "@strata/errdefs";
import type { Logger } from "./log.ts";

/** Options of {@link serveUnix}. */
export interface ServeOptions {
  /** The socket path; a stale socket file there is replaced. */
  socket: string;
  /** A numeric gid that may use the socket; without it only the owner may. */
  gid?: number;
  /** Registers the services. */
  routes: (router: ConnectRouter) => void;
  /**
   * Serves a request itself instead of the routes (returns true), for the
   * calls whose speed matters (containerd's Read and Write).
   */
  fastPath?: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => boolean;
  /** Largest message read or written. */
  maxMessageBytes: number;
  /** HTTP/2 streams a client may open at once. */
  maxConcurrentStreams: number;
  /** A stream idle this long is reset, so one stalled client harms no other. */
  streamIdleTimeoutMs: number;
  /** Where to log. */
  log: Logger;
}

/** A running gRPC server on a unix socket. */
export interface RunningServer {
  /** The socket path. */
  readonly socket: string;
  /**
   * Stops accepting connections and waits for calls in flight, up to
   * `graceMs`; then closes what is left. Interrupted writes stay resumable
   * because ingests live on disk.
   */
  close(graceMs?: number): Promise<void>;
}

// The routes behind connect's gRPC handler, with the fast paths first.
function handlerFor(options: ServeOptions) {
  const handler = connectNodeAdapter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    readMaxBytes: options.maxMessageBytes,
    writeMaxBytes: options.maxMessageBytes,
    // Never compress replies: blobs are mostly compressed layers already, and
    // gzip at ~25 MiB/s was the whole cost of a Read for clients that offer
    // it (connect's do). Compressed requests are still accepted.
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    routes: options.routes,
  });
  return (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): void => {
    // A call can end before its client stopped sending (a refused oversized
    // message, an error in the middle of a Write): after the trailers, reset
    // the stream with NO_ERROR, as grpc-go does, so the client stops sending
    // and the stream does not linger half-open until the idle timeout.
    const stream = res.stream;
    // The compat layer sends the trailers from its own "wantTrailers"
    // listener, registered before this one; reset after they are queued.
    stream.once("wantTrailers", () => {
      setImmediate(() => {
        if (req.complete || stream.destroyed) return;
        stream.close(http2.constants.NGHTTP2_NO_ERROR);
        // Drop what already arrived, or the stream waits for a reader forever.
        setImmediate(() => stream.destroy());
      });
    });
    if (options.fastPath?.(req, res) === true) return;
    handler(req, res);
  };
}

// HTTP/2 flow control: with the protocol's 64 KiB windows a 1 MiB Write
// message needs sixteen window updates from the daemon before it arrives.
// Larger windows let a message arrive in one go; they bound how much a
// client can push that the daemon has not read yet (per stream, and per
// connection across its streams).
const STREAM_WINDOW_BYTES = 4 << 20;
const CONNECTION_WINDOW_BYTES = 16 << 20;
// nghttp2's memory per connection, in MB (Node's default of 10 is below the
// connection window).
const MAX_SESSION_MEMORY_MB = 64;

// containerd's client reads a blob with one Read call per ReadAt and cancels
// each (RST_STREAM) once its buffer is full: `ctr content get` of a large
// blob resets thousands of streams a second. nghttp2's defaults against the
// "rapid reset" attack (a burst of 1000, then 33 a second) would close its
// connection mid-read; the socket is local and guarded by its file mode.
const STREAM_RESETS_PER_SECOND = 20_000;

function sessionOptions(options: ServeOptions): http2.ServerOptions {
  return {
    settings: {
      maxConcurrentStreams: options.maxConcurrentStreams,
      initialWindowSize: STREAM_WINDOW_BYTES,
    },
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
    streamResetBurst: STREAM_RESETS_PER_SECOND,
    streamResetRate: STREAM_RESETS_PER_SECOND,
  };
}

// Session tracking for a graceful close, and the cut of stalled streams.
function manage(server: http2.Http2Server | http2.Http2SecureServer, options: ServeOptions) {
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    // The connection's receive window (HTTP/2's default is 64 KiB).
    session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    session.on("close", () => sessions.delete(session));
  });
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    stream.setTimeout(options.streamIdleTimeoutMs, () => {
      options.log.warn("cutting a stalled stream", { idleMs: options.streamIdleTimeoutMs });
      stream.close(http2.constants.NGHTTP2_CANCEL);
      // Unread request data would keep the stream (and its session) alive.
      setImmediate(() => stream.destroy());
    });
  });
  return async (graceMs: number): Promise<void> => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const session of sessions) session.close();
    const timer = setTimeout(() => {
      for (const session of sessions) session.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  };
}

/** TLS material of {@link serveTls}: PEM texts. */
export interface TlsOptions {
  /** host:port to listen on. */
  address: string;
  /** The server's certificate chain. */
  cert: string;
  /** The server's private key. */
  key: string;
  /** The CA that signs the clients' certificates; clients without one are refused. */
  ca: string;
}

/**
 * Serves gRPC on TCP, only with TLS and client certificates (mutual TLS):
 * a TCP socket is reachable by anyone on the network, unlike a unix socket
 * whose file mode guards it.
 */
export async function serveTls(
  options: ServeOptions & { tls: TlsOptions },
): Promise<RunningServer> {
  const { host, port } = splitAddress(options.tls.address);
  const server = http2.createSecureServer(
    {
      cert: options.tls.cert,
      key: options.tls.key,
      ca: options.tls.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      ...sessionOptions(options),
    },
    handlerFor(options),
  );
  const close = manage(server, options);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(fromSystemError(err, `cannot listen on ${options.tls.address}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = server.address();
  const where =
    typeof bound === "object" && bound !== null ? `${host}:${bound.port}` : options.tls.address;
  options.log.info("serving", { tcp: where, tls: true });
  return { socket: where, close: (graceMs = 10_000) => close(graceMs) };
}

function splitAddress(address: string): { host: string; port: number } {
  const match = /^(.*):(\d+)$/.exec(address);
  const port = Number(match?.[2]);
  if (match === null || !Number.isInteger(port) || port > 65535) {
    throw new InvalidArgumentError(`TCP address "${address}" is not host:port`);
  }
  return { host: (match[1] as string).replace(/^\[(.*)\]$/, "$1"), port };
}

/**
 * Serves gRPC (the protocol grpc-go clients such as `ctr` speak) over HTTP/2
 * on a unix socket with mode 0660 (0600 without a group).
 */
export async function serveUnix(options: ServeOptions): Promise<RunningServer> {
  const server = http2.createServer(sessionOptions(options), handlerFor(options));
  const close = manage(server, options);
  await mkdir(dirname(options.socket), { recursive: true, mode: 0o711 });
  await rm(options.socket, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) =>
      reject(fromSystemError(err, `cannot listen on ${options.socket}`)),
    );
    server.listen(options.socket, () => resolve());
  });
  try {
    if (options.gid !== undefined)
      await chown(options.socket, process.getuid?.() ?? 0, options.gid);
    await chmod(options.socket, options.gid !== undefined ? 0o660 : 0o600);
  } catch (err) {
    server.close();
    throw fromSystemError(err, `cannot set the permissions of ${options.socket}`);
  }
  options.log.info("serving", { socket: options.socket });
  return {
    socket: options.socket,
    async close(graceMs = 10_000) {
      await close(graceMs);
      await rm(options.socket, { force: true });
    },
  };
}
