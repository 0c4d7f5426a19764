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
    tcp: values.tcp,
    tlsCert: values["tls-cert"],
    tlsKey: values["tls-key"],
    tlsCa: values["tls-ca"],
    help: values.help === true,
  };
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
