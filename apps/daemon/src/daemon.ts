import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { ConnectRouter } from "@connectrpc/connect";
import { Cache } from "@strata/api/cache";
import { Content } from "@strata/api/content";
import { Diff } from "@strata/api/diff";
import { Health } from "@strata/api/health";
import { Introspection } from "@strata/api/introspection";
import { Leases } from "@strata/api/leases";
import { Namespaces } from "@strata/api/namespaces";
import { Snapshots } from "@strata/api/snapshots";
import { Version } from "@strata/api/version";
import { StrataRoot } from "@strata/core";
import { fromSystemError, InvalidArgumentError } from "@strata/errdefs";
import type { DaemonConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import { isFastRead, readFastPath } from "./read_fast_path.ts";
import { type RunningServer, serveTls, serveUnix } from "./server.ts";
import { cacheService } from "./services/cache.ts";
import { contentService } from "./services/content.ts";
import { diffService } from "./services/diff.ts";
import { HealthState, healthService } from "./services/health.ts";
import { introspectionService, type PluginInfo } from "./services/introspection.ts";
import { leasesService } from "./services/leases.ts";
import { namespacesService } from "./services/namespaces.ts";
import { snapshotsService } from "./services/snapshots.ts";
import { versionService } from "./services/version.ts";
import { fastUnaryRoute, unaryFastPath, unaryRoutes } from "./unary_fast_path.ts";
import { isFastWrite, writeFastPath } from "./write_fast_path.ts";

/** The plugins stratad reports, in containerd's plugin types (plus one per loaded snapshotter). */
export const PLUGINS: readonly PluginInfo[] = [
  { type: "io.containerd.content.v1", id: "content" },
  { type: "io.containerd.metadata.v1", id: "sqlite" },
  { type: "io.containerd.gc.v1", id: "scheduler" },
  { type: "io.containerd.grpc.v1", id: "content" },
  { type: "io.containerd.grpc.v1", id: "leases" },
  { type: "io.containerd.grpc.v1", id: "diff" },
  { type: "io.containerd.grpc.v1", id: "snapshots" },
  { type: "io.containerd.differ.v1", id: "walking" },
  { type: "io.containerd.grpc.v1", id: "namespaces" },
  { type: "io.containerd.grpc.v1", id: "introspection" },
  { type: "io.containerd.grpc.v1", id: "version" },
  { type: "io.containerd.grpc.v1", id: "healthcheck" },
];

/** A running daemon: its root, its server and its health. */
export interface Daemon {
  /** The opened root. */
  readonly root: StrataRoot;
  /** The socket server. */
  readonly server: RunningServer;
  /** The TCP (mutual TLS) server, when configured. */
  readonly tcp: RunningServer | undefined;
  /** Drains (health NOT_SERVING), waits for calls in flight, closes the root. */
  shutdown(graceMs?: number): Promise<void>;
}

/** Resolves `--group` (a name from /etc/group, or a number) to a gid. */
export function resolveGroup(group: string): number {
  if (/^\d+$/.test(group)) return Number(group);
  try {
    const line = execFileSync("getent", ["group", group], { encoding: "utf8" });
    const gid = Number(line.split(":")[2]);
    if (Number.isSafeInteger(gid)) return gid;
  } catch {
    // Fall through to the error below.
  }
  throw new InvalidArgumentError(`group "${group}" does not exist`);
}

/** Opens the root and serves every service on the socket. */
export async function startDaemon(config: DaemonConfig, log: Logger): Promise<Daemon> {
  const root = await StrataRoot.open(config.root, {
    gcScheduler:
      config.gc === false
        ? false
        : {
            ...config.gc,
            onError: (err: unknown) => log.error("scheduled gc failed", { error: String(err) }),
          },
    ...(config.snapshotter !== undefined ? { snapshotter: config.snapshotter } : {}),
  });
  const plugins = [
    ...PLUGINS,
    ...root.snapshotterNames.map((id) => ({ type: "io.containerd.snapshotter.v1", id })),
  ];
  const health = new HealthState();
  const uuid = randomUUID();
  const content = {
    contentStore: (ns: string, o?: { lease?: string }) => root.db.contentStore(ns, o ?? {}),
    bareStore: () => root.proxyContentStore(),
  };
  const services = [
    [Content, contentService(content)],
    [Leases, leasesService({ leases: (ns) => root.db.leases(ns) })],
    [Namespaces, namespacesService(root.db.namespaces)],
    [Version, versionService("dev")],
    [Introspection, introspectionService(plugins, uuid)],
    [Health, healthService(health)],
    [Cache, cacheService({ gc: () => root.gc(), cache: (ns) => root.session(ns).cache })],
    [Diff, diffService(content)],
    [
      Snapshots,
      snapshotsService({
        snapshotterNames: root.snapshotterNames,
        snapshotter: (ns, name, o) => root.db.snapshotter(ns, name, o ?? {}),
        backend: (name) => root.proxySnapshotter(name),
      }),
    ],
  ] as const;
  const routes = (router: ConnectRouter) => {
    for (const [service, impl] of services) router.service(service, impl as never);
  };
  const unary = unaryRoutes(services);
  let server: RunningServer;
  let tcp: RunningServer | undefined;
  // containerd's Read and Write, the calls that move blobs, and the unary
  // calls skip connect's handler when they are plain gRPC.
  const limits = { maxMessageBytes: config.maxMessageBytes };
  const fastPath = (req: Http2ServerRequest, res: Http2ServerResponse): boolean => {
    const route = fastUnaryRoute(req, unary);
    const serve =
      route !== undefined
        ? unaryFastPath(route, req, res, limits)
        : isFastRead(req)
          ? readFastPath(content, req, res)
          : isFastWrite(req)
            ? writeFastPath(content, req, res, limits)
            : undefined;
    serve?.catch((err: unknown) => {
      log.error("call failed", { path: req.url, error: String(err) });
      res.stream.destroy();
    });
    return serve !== undefined;
  };
  const common = {
    routes,
    fastPath,
    maxMessageBytes: config.maxMessageBytes,
    maxConcurrentStreams: config.maxConcurrentStreams,
    streamIdleTimeoutMs: config.streamIdleTimeoutMs,
    log,
  };
  try {
    server = await serveUnix({
      socket: config.socket,
      ...(config.group !== undefined ? { gid: resolveGroup(config.group) } : {}),
      routes,
      fastPath,
      maxMessageBytes: config.maxMessageBytes,
      maxConcurrentStreams: config.maxConcurrentStreams,
      streamIdleTimeoutMs: config.streamIdleTimeoutMs,
      log,
    });
    if (config.tcpAddress !== undefined) {
      try {
        tcp = await serveTls({
          ...common,
          socket: config.socket,
          tls: {
            address: config.tcpAddress,
            cert: await readPem(config.tlsCert),
            key: await readPem(config.tlsKey),
            ca: await readPem(config.tlsCa),
          },
        });
      } catch (err) {
        await server.close(0);
        throw err;
      }
    }
  } catch (err) {
    await root.close();
    throw err;
  }
  const cacheGc = scheduleCacheGc(root, config, log);
  log.info("stratad started", { root: config.root, socket: config.socket, uuid });
  return {
    root,
    server,
    tcp,
    async shutdown(graceMs) {
      health.drain();
      await cacheGc.stop();
      await Promise.all([server.close(graceMs), tcp?.close(graceMs)]);
      await root.close();
      log.info("stratad stopped");
    },
  };
}

/**
 * BuildKit's cache GC on a timer (`cacheGcIntervalMs`): the configured
 * policies (or BuildKit's defaults for the root's disk) over every
 * namespace, one run at a time; each run is logged.
 */
function scheduleCacheGc(
  root: StrataRoot,
  config: DaemonConfig,
  log: Logger,
): { stop(): Promise<void> } {
  const interval = config.cacheGcIntervalMs;
  if (interval === undefined) return { stop: async () => {} };
  const policies = config.cacheGcPolicies?.map(({ keepDurationMs, ...rest }) => ({
    ...rest,
    ...(keepDurationMs !== undefined ? { keepDuration: keepDurationMs } : {}),
  }));
  const abort = new AbortController();
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(async () => {
      if (abort.signal.aborted) return;
      const started = Date.now();
      try {
        const { records, bytes } = await root.collectCaches(policies, { signal: abort.signal });
        log.info("cache gc", { records, bytes, ms: Date.now() - started });
      } catch (err) {
        if (!abort.signal.aborted) log.error("cache gc failed", { error: String(err) });
      }
    });
  }, interval);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      abort.abort();
      await running;
    },
  };
}

async function readPem(path: string | undefined): Promise<string> {
  if (path === undefined) throw new InvalidArgumentError("a TLS file is missing");
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw fromSystemError(err, `cannot read TLS file ${path}`);
  }
}
