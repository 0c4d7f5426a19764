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
  /**
   * containerd's GC scheduler (`[plugins."io.containerd.gc.v1.scheduler"]`):
   * its settings (unset ones take containerd's defaults), or false for none
   * (collections then run only when asked: `strata gc`, `ctr leases rm --sync`).
   */
  gc: GcSettings | false;
  /** BuildKit's cache GC: every this many ms, the policies run over every namespace; undefined: off. */
  cacheGcIntervalMs: number | undefined;
  /** Its policies, in order; undefined: BuildKit's defaults for the root's disk. */
  cacheGcPolicies: CacheGcPolicy[] | undefined;
}

/** containerd's GC scheduler settings, as its config names them (durations in ms). */
export interface GcSettings {
  pauseThreshold?: number;
  deletionThreshold?: number;
  mutationThreshold?: number;
  scheduleDelayMs?: number;
  startupDelayMs?: number;
}

/** One of BuildKit's GC policies (`[[worker.oci.gcpolicy]]`), sizes in bytes. */
export interface CacheGcPolicy {
  all?: boolean;
  filters?: string[];
  keepDurationMs?: number;
  reservedSpace?: number;
  maxUsedSpace?: number;
  minFreeSpace?: number;
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
    gc: {},
    cacheGcIntervalMs: undefined,
    cacheGcPolicies: undefined,
  };
}

/** stratad's usage text. */
export const USAGE = `usage: stratad [options]

  --config FILE            a JSON config file (keys as the options below, camelCase; "gc" is an
                           object of the scheduler settings or false, "cacheGcPolicies" a list of
                           {all, filters, keepDurationMs, reservedSpace, maxUsedSpace, minFreeSpace})
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
  --gc-pause-threshold F   containerd's GC scheduler: fraction of time paused in GC (default 0.02)
  --gc-deletion-threshold N  deletions that start a collection at once (default 0: any)
  --gc-mutation-threshold N  changes that make the next tick collect (default 100)
  --gc-schedule-delay D    wait between a trigger and the collection (default 0)
  --gc-startup-delay D     first collection after start (default 100ms)
  --no-gc                  no scheduled collections (only strata gc, ctr leases rm --sync)
  --cache-gc-interval D    run BuildKit's cache GC policies over every namespace this often
                           (policies: cacheGcPolicies in the config file, else BuildKit's defaults)
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
  const gc = gcFlags(parsed);
  if (parsed.noGc) flags.gc = false;
  else if (Object.keys(gc).length > 0) flags.gc = { ...(config.gc || {}), ...gc };
  if (parsed.cacheGcInterval !== undefined) {
    flags.cacheGcIntervalMs = parseDurationMs("--cache-gc-interval", parsed.cacheGcInterval);
  }
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
      "gc-pause-threshold": { type: "string" },
      "gc-deletion-threshold": { type: "string" },
      "gc-mutation-threshold": { type: "string" },
      "gc-schedule-delay": { type: "string" },
      "gc-startup-delay": { type: "string" },
      "no-gc": { type: "boolean" },
      "cache-gc-interval": { type: "string" },
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
    gcPauseThreshold: values["gc-pause-threshold"],
    gcDeletionThreshold: values["gc-deletion-threshold"],
    gcMutationThreshold: values["gc-mutation-threshold"],
    gcScheduleDelay: values["gc-schedule-delay"],
    gcStartupDelay: values["gc-startup-delay"],
    noGc: values["no-gc"] === true,
    cacheGcInterval: values["cache-gc-interval"],
    help: values.help === true,
  };
}

// The scheduler settings given as flags.
function gcFlags(parsed: ReturnType<typeof parseFlags>): GcSettings {
  const gc: GcSettings = {};
  if (parsed.gcPauseThreshold !== undefined) {
    gc.pauseThreshold = parseFraction("--gc-pause-threshold", parsed.gcPauseThreshold);
  }
  if (parsed.gcDeletionThreshold !== undefined) {
    gc.deletionThreshold = parseCount("--gc-deletion-threshold", parsed.gcDeletionThreshold, 0);
  }
  if (parsed.gcMutationThreshold !== undefined) {
    gc.mutationThreshold = parseCount("--gc-mutation-threshold", parsed.gcMutationThreshold, 0);
  }
  if (parsed.gcScheduleDelay !== undefined) {
    gc.scheduleDelayMs = parseDurationMs("--gc-schedule-delay", parsed.gcScheduleDelay, 0);
  }
  if (parsed.gcStartupDelay !== undefined) {
    gc.startupDelayMs = parseDurationMs("--gc-startup-delay", parsed.gcStartupDelay, 0);
  }
  return gc;
}

function parseFraction(flag: string, text: string): number {
  const n = /^\d*\.?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(n >= 0 && n <= 0.5)) {
    throw new InvalidArgumentError(`${flag}: "${text}" is not a fraction between 0 and 0.5`);
  }
  return n;
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
 * number of milliseconds. Throws InvalidArgumentError on anything else or
 * on less than `min` (default 1: zero is refused).
 */
export function parseDurationMs(flag: string, text: string, min = 1): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|)$/.exec(text.trim());
  const scale = { "": 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match?.[2] ?? ""] ?? 1;
  const ms = match === null ? Number.NaN : Math.round(Number(match[1]) * scale);
  if (!Number.isSafeInteger(ms) || ms < min) {
    throw new InvalidArgumentError(
      `${flag}: "${text}" is not a positive duration (500ms, 30s, 5m)`,
    );
  }
  return ms;
}

function parseCount(flag: string, text: string, min = 1): number {
  const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new InvalidArgumentError(
      `${flag}: "${text}" is not ${min === 0 ? "a whole number" : "a positive integer"}`,
    );
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
  cacheGcIntervalMs: "number",
};

const GC_KEYS = [
  "pauseThreshold",
  "deletionThreshold",
  "mutationThreshold",
  "scheduleDelayMs",
  "startupDelayMs",
] as const;
const POLICY_NUMBERS = ["keepDurationMs", "reservedSpace", "maxUsedSpace", "minFreeSpace"] as const;

// The config file's "gc": false, or an object of scheduler settings.
function gcFromFile(path: string, value: unknown): GcSettings | false {
  if (value === false) return false;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`config file ${path}: "gc" must be false or an object`);
  }
  const gc: GcSettings = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(GC_KEYS as readonly string[]).includes(key)) {
      throw new InvalidArgumentError(`config file ${path}: unknown key "gc.${key}"`);
    }
    const ok =
      typeof v === "number" &&
      v >= 0 &&
      (key === "pauseThreshold" ? v <= 0.5 : Number.isSafeInteger(v));
    if (!ok) {
      throw new InvalidArgumentError(
        `config file ${path}: "gc.${key}" must be ${key === "pauseThreshold" ? "a fraction between 0 and 0.5" : "a whole number"}`,
      );
    }
    gc[key as (typeof GC_KEYS)[number]] = v as number;
  }
  return gc;
}

// The config file's "cacheGcPolicies": an array of BuildKit GC policies.
function policiesFromFile(path: string, value: unknown): CacheGcPolicy[] {
  const bad = (what: string) =>
    new InvalidArgumentError(`config file ${path}: "cacheGcPolicies" ${what}`);
  if (!Array.isArray(value)) throw bad("must be an array");
  return value.map((p: unknown, i) => {
    if (typeof p !== "object" || p === null || Array.isArray(p))
      throw bad(`[${i}] must be an object`);
    const policy: CacheGcPolicy = {};
    for (const [key, v] of Object.entries(p)) {
      if (key === "all") {
        if (typeof v !== "boolean") throw bad(`[${i}].all must be true or false`);
        policy.all = v;
      } else if (key === "filters") {
        if (!Array.isArray(v) || !v.every((f) => typeof f === "string")) {
          throw bad(`[${i}].filters must be an array of strings`);
        }
        policy.filters = v as string[];
      } else if ((POLICY_NUMBERS as readonly string[]).includes(key)) {
        if (!(typeof v === "number" && Number.isSafeInteger(v) && v >= 0)) {
          throw bad(`[${i}].${key} must be a whole number`);
        }
        policy[key as (typeof POLICY_NUMBERS)[number]] = v;
      } else {
        throw bad(`[${i}] has an unknown key "${key}"`);
      }
    }
    return policy;
  });
}

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
    if (key === "gc") {
      out.gc = gcFromFile(path, value);
      continue;
    }
    if (key === "cacheGcPolicies") {
      out.cacheGcPolicies = policiesFromFile(path, value);
      continue;
    }
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
