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

/**
 * Serves gRPC (the protocol grpc-go clients such as `ctr` speak) over HTTP/2
 * on a unix socket with mode 0660 (0600 without a group).
 */
function handlerFor(options: ServeOptions) {
  return connectNodeAdapter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    readMaxBytes: options.maxMessageBytes,
    writeMaxBytes: options.maxMessageBytes,
    routes: options.routes,
  });
}

// Session tracking for a graceful close, and the cut of stalled streams.
function manage(server: http2.Http2Server | http2.Http2SecureServer, options: ServeOptions) {
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("stream", (stream: http2.ServerHttp2Stream) => {
    stream.setTimeout(options.streamIdleTimeoutMs, () => {
      options.log.warn("cutting a stalled stream", { idleMs: options.streamIdleTimeoutMs });
      stream.close(http2.constants.NGHTTP2_CANCEL);
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
      settings: { maxConcurrentStreams: options.maxConcurrentStreams },
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

export async function serveUnix(options: ServeOptions): Promise<RunningServer> {
  const server = http2.createServer(
    { settings: { maxConcurrentStreams: options.maxConcurrentStreams } },
    handlerFor(options),
  );
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
