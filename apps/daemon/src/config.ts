import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fromSystemError, InvalidArgumentError, isNotFound } from "@strata/errdefs";

/** What stratad runs with: a config file, overridden by flags. */
export interface DaemonConfig {
  /** The root directory (content, snapshots, metadata.db). */
  root: string;
  /** The unix socket to serve on. */
  socket: string;
  /** A group that may use the socket (mode 0660); none keeps it root-only. */
  group: string | undefined;
  /** The default snapshotter; undefined: overlayfs where the kernel allows it, else native. */
  snapshotter: string | undefined;
  /** "debug", "info", "warn" or "error". */
  logLevel: LogLevel;
  /** Largest gRPC message accepted or sent, in bytes (containerd's client uses 16 MiB). */
  maxMessageBytes: number;
  /** Concurrent streams per client connection. */
  maxConcurrentStreams: number;
  /** A stream with no traffic for this long is cut, in milliseconds. */
  streamIdleTimeoutMs: number;
  /** Also serve on this TCP host:port, with mutual TLS only. */
  tcpAddress: string | undefined;
  /** PEM files for TCP: the server certificate, its key, and the CA of client certificates. */
  tlsCert: string | undefined;
  tlsKey: string | undefined;
  tlsCa: string | undefined;
}

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The defaults: root under /var/lib, socket under /run, as containerd places its own. */
export function defaultConfig(env: Readonly<Record<string, string | undefined>>): DaemonConfig {
  const runDir = env.XDG_RUNTIME_DIR && process.getuid?.() !== 0 ? env.XDG_RUNTIME_DIR : "/run";
  return {
    root: env.STRATA_ROOT ?? "/var/lib/strata",
    socket: join(runDir, "strata", "stratad.sock"),
    group: undefined,
    snapshotter: undefined,
    logLevel: "info",
    maxMessageBytes: 16 << 20,
    maxConcurrentStreams: 100,
    streamIdleTimeoutMs: 5 * 60_000,
    tcpAddress: undefined,
    tlsCert: undefined,
    tlsKey: undefined,
    tlsCa: undefined,
  };
}

/** stratad's usage text. */
export const USAGE = `usage: stratad [options]

  --config FILE            a JSON config file (keys as the options below, camelCase)
  --root DIR               the root directory (default /var/lib/strata, or $STRATA_ROOT)
  --socket PATH            the unix socket (default /run/strata/stratad.sock)
  --group NAME|GID         let this group use the socket (mode 0660)
  --snapshotter NAME       the default snapshotter: overlayfs or native (default: overlayfs where supported)
  --log-level LEVEL        debug, info, warn or error
  --max-message-size N     the largest gRPC message, in bytes (default 16 MiB; 4M, 16MiB accepted)
  --max-concurrent-streams N  streams one client connection may open at once (default 100)
  --stream-idle-timeout D  cut a stream with no traffic for this long (default 5m; 500ms, 30s, 2m)
  --tcp HOST:PORT          also serve on TCP, with mutual TLS only (needs the three below)
  --tls-cert FILE          the server certificate (PEM)
  --tls-key FILE           its private key (PEM)
  --tls-ca FILE            the CA that signs client certificates (PEM)
  -h, --help               show this help`;

/**
 * Reads flags and the optional config file into a {@link DaemonConfig}.
 * Flags win over the file, the file over the defaults. Throws
 * InvalidArgumentError on unknown flags or keys and bad values.
 */
export async function loadConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Promise<DaemonConfig | "help"> {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message, { cause: err });
  }
  if (parsed.help) return "help";
  const config = defaultConfig(env);
  if (parsed.config !== undefined) Object.assign(config, await readConfigFile(parsed.config));
  const flags: Partial<DaemonConfig> = {};
  if (parsed.root !== undefined) flags.root = parsed.root;
  if (parsed.socket !== undefined) flags.socket = parsed.socket;
  if (parsed.group !== undefined) flags.group = parsed.group;
  if (parsed.snapshotter !== undefined) flags.snapshotter = parsed.snapshotter;
  if (parsed.logLevel !== undefined) flags.logLevel = checkLevel(parsed.logLevel);
  if (parsed.maxMessageSize !== undefined) {
    flags.maxMessageBytes = parseByteSize("--max-message-size", parsed.maxMessageSize);
  }
  if (parsed.maxConcurrentStreams !== undefined) {
    flags.maxConcurrentStreams = parseCount(
      "--max-concurrent-streams",
      parsed.maxConcurrentStreams,
    );
  }
  if (parsed.streamIdleTimeout !== undefined) {
    flags.streamIdleTimeoutMs = parseDurationMs("--stream-idle-timeout", parsed.streamIdleTimeout);
  }
  if (parsed.tcp !== undefined) flags.tcpAddress = parsed.tcp;
  if (parsed.tlsCert !== undefined) flags.tlsCert = parsed.tlsCert;
  if (parsed.tlsKey !== undefined) flags.tlsKey = parsed.tlsKey;
  if (parsed.tlsCa !== undefined) flags.tlsCa = parsed.tlsCa;
  const out = Object.assign(config, flags);
  if (
    out.tcpAddress !== undefined &&
    (out.tlsCert === undefined || out.tlsKey === undefined || out.tlsCa === undefined)
  ) {
    throw new InvalidArgumentError(
      "--tcp needs --tls-cert, --tls-key and --tls-ca: TCP is served only with mutual TLS",
    );
  }
  return out;
}

function parseFlags(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      config: { type: "string" },
      root: { type: "string" },
      socket: { type: "string" },
      group: { type: "string" },
      snapshotter: { type: "string" },
      "log-level": { type: "string" },
      "max-message-size": { type: "string" },
      "max-concurrent-streams": { type: "string" },
      "stream-idle-timeout": { type: "string" },
      tcp: { type: "string" },
      "tls-cert": { type: "string" },
      "tls-key": { type: "string" },
      "tls-ca": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    config: values.config,
    root: values.root,
    socket: values.socket,
    group: values.group,
    snapshotter: values.snapshotter,
    logLevel: values["log-level"],
    maxMessageSize: values["max-message-size"],
    maxConcurrentStreams: values["max-concurrent-streams"],
    streamIdleTimeout: values["stream-idle-timeout"],
    tcp: values.tcp,
    tlsCert: values["tls-cert"],
    tlsKey: values["tls-key"],
    tlsCa: values["tls-ca"],
    help: values.help === true,
  };
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1 << 20,
  mb: 1 << 20,
  mib: 1 << 20,
  g: 1 << 30,
  gb: 1 << 30,
  gib: 1 << 30,
};

/**
 * Reads a size in bytes: a number, optionally with a binary unit
 * (`512`, `4k`, `16M`, `16MiB`, `1G`). Throws InvalidArgumentError on
 * anything else, zero, or more than 2 GiB (HTTP/2 frames cannot carry more).
 */
export function parseByteSize(flag: string, text: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = SIZE_UNITS[(match?.[2] ?? "").toLowerCase()];
  const bytes = match === null || unit === undefined ? Number.NaN : Number(match[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes <= 0 || bytes > 2 ** 31 - 1) {
    throw new InvalidArgumentError(`${flag}: "${text}" is not a size between 1 byte and 2 GiB`);
  }
  return bytes;
}

/**
 * Reads a duration into milliseconds: `250ms`, `30s`, `5m`, `1h`, or a bare
 * number of milliseconds. Throws InvalidArgumentError on anything else or zero.
 */
export function parseDurationMs(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|)$/.exec(text.trim());
  const scale = { "": 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match?.[2] ?? ""] ?? 1;
  const ms = match === null ? Number.NaN : Math.round(Number(match[1]) * scale);
  if (!Number.isSafeInteger(ms) || ms <= 0) {
    throw new InvalidArgumentError(
      `${flag}: "${text}" is not a positive duration (500ms, 30s, 5m)`,
    );
  }
  return ms;
}

function parseCount(flag: string, text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new InvalidArgumentError(`${flag}: "${text}" is not a positive integer`);
  }
  return n;
}

function checkLevel(level: string): LogLevel {
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new InvalidArgumentError(`log level "${level}" is not one of ${LOG_LEVELS.join(", ")}`);
}

const FILE_KEYS: Record<string, "string" | "number"> = {
  root: "string",
  socket: "string",
  group: "string",
  snapshotter: "string",
  logLevel: "string",
  maxMessageBytes: "number",
  maxConcurrentStreams: "number",
  streamIdleTimeoutMs: "number",
  tcpAddress: "string",
  tlsCert: "string",
  tlsKey: "string",
  tlsCa: "string",
};

async function readConfigFile(path: string): Promise<Partial<DaemonConfig>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const e = fromSystemError(err, `cannot read config file ${path}`);
    throw isNotFound(e) ? e : e;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`config file ${path} is not JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new InvalidArgumentError(`config file ${path} must hold a JSON object`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(data)) {
    const type = FILE_KEYS[key];
    if (type === undefined)
      throw new InvalidArgumentError(`config file ${path}: unknown key "${key}"`);
    if (
      typeof value !== type ||
      (type === "number" && !(Number.isSafeInteger(value) && (value as number) > 0))
    ) {
      throw new InvalidArgumentError(
        `config file ${path}: "${key}" must be a ${type === "number" ? "positive integer" : "string"}`,
      );
    }
    out[key] = value;
  }
  if (out.logLevel !== undefined) checkLevel(out.logLevel as string);
  return out as Partial<DaemonConfig>;
}
