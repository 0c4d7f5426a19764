import {
  array,
  fail,
  object,
  optBoolean,
  optInteger,
  optional,
  optSet,
  optString,
  optStringArray,
  optStringMap,
  string,
} from "./_validate.ts";
import { digestField } from "./descriptor.ts";
import type { Digest } from "./digest.ts";
import { type ParseOptions, parseJsonDocument } from "./json.ts";

/** The execution parameters of an image (`config` of an image config). */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  Memory?: number;
  MemorySwap?: number;
  CpuShares?: number;
  Healthcheck?: Record<string, unknown>;
  Shell?: string[];
  OnBuild?: string[];
}

/** One entry of an image config's history. */
export interface History {
  created?: string;
  author?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** An OCI image config (also the Docker `container.image.v1` config). */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: { type: "layers"; diff_ids: Digest[] };
  history?: History[];
}

function containerConfig(value: unknown, path: string): ContainerConfig {
  const obj = object(value, path);
  const out: ContainerConfig = {};
  const strings = ["User", "WorkingDir", "StopSignal"] as const;
  for (const key of strings) {
    const v = optString(obj, key, path);
    if (v !== undefined) out[key] = v;
  }
  const lists = ["Env", "Entrypoint", "Cmd", "Shell", "OnBuild"] as const;
  for (const key of lists) {
    const v = optStringArray(obj, key, path);
    if (v !== undefined) out[key] = v;
  }
  const sets = ["ExposedPorts", "Volumes"] as const;
  for (const key of sets) {
    const v = optSet(obj, key, path);
    if (v !== undefined) out[key] = v;
  }
  const ints = ["Memory", "MemorySwap", "CpuShares"] as const;
  for (const key of ints) {
    const v = optInteger(obj, key, path);
    if (v !== undefined) out[key] = v;
  }
  const labels = optStringMap(obj, "Labels", path);
  if (labels !== undefined) out.Labels = labels;
  const argsEscaped = optBoolean(obj, "ArgsEscaped", path);
  if (argsEscaped !== undefined) out.ArgsEscaped = argsEscaped;
  const health = optional(obj, "Healthcheck");
  if (health !== undefined) out.Healthcheck = object(health, `${path}.Healthcheck`);
  return out;
}

function history(value: unknown, path: string): History {
  const obj = object(value, path);
  const out: History = {};
  for (const key of ["created", "author", "created_by", "comment"] as const) {
    const v = optString(obj, key, path);
    if (v !== undefined) out[key] = v;
  }
  const empty = optBoolean(obj, "empty_layer", path);
  if (empty !== undefined) out.empty_layer = empty;
  return out;
}

/**
 * Validates an already-parsed image config and returns a clean copy (known
 * fields only, nulls dropped).
 *
 * @throws {InvalidArgumentError} naming the field path (`config.rootfs.diff_ids[1]: …`).
 */
export function validateImageConfig(value: unknown, path = "config"): ImageConfig {
  const obj = object(value, path);
  const rootfsObj = object(obj.rootfs, `${path}.rootfs`);
  const type = string(rootfsObj.type, `${path}.rootfs.type`);
  if (type !== "layers")
    fail(`${path}.rootfs.type`, `must be "layers", got ${JSON.stringify(type)}`);
  const diffIDs = array(rootfsObj.diff_ids, `${path}.rootfs.diff_ids`).map((d, i) =>
    digestField(d, `${path}.rootfs.diff_ids[${i}]`),
  );
  const out: ImageConfig = {
    architecture: string(obj.architecture, `${path}.architecture`),
    os: string(obj.os, `${path}.os`),
    rootfs: { type: "layers", diff_ids: diffIDs },
  };
  for (const key of ["created", "author", "os.version", "variant"] as const) {
    const v = optString(obj, key, path);
    if (v !== undefined) out[key] = v;
  }
  if (out.created !== undefined && Number.isNaN(Date.parse(out.created))) {
    fail(`${path}.created`, `not a date-time: ${JSON.stringify(out.created)}`);
  }
  const features = optStringArray(obj, "os.features", path);
  if (features !== undefined) out["os.features"] = features;
  const cfg = optional(obj, "config");
  if (cfg !== undefined) out.config = containerConfig(cfg, `${path}.config`);
  const hist = optional(obj, "history");
  if (hist !== undefined) {
    out.history = array(hist, `${path}.history`).map((h, i) => history(h, `${path}.history[${i}]`));
  }
  return out;
}

/**
 * Parses and validates an image config (OCI or Docker).
 *
 * @throws {ResourceExhaustedError} when the JSON is larger than `options.maxBytes` (default 4 MiB).
 * @throws {InvalidArgumentError} on invalid JSON or a field that breaks the spec.
 */
export function parseImageConfig(json: Uint8Array | string, options?: ParseOptions): ImageConfig {
  return validateImageConfig(parseJsonDocument(json, "config", options), "config");
}
