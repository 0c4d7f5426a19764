// Small checks shared by the hand-written validators. Each names the field
// path in its message so a caller sees which part of a document is wrong.
import { InvalidArgumentError } from "@strata/errdefs";

export type JsonObject = Record<string, unknown>;

export function fail(path: string, problem: string): never {
  throw new InvalidArgumentError(`${path}: ${problem}`);
}

export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

export function object(value: unknown, path: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(path, `must be an object, got ${kindOf(value)}`);
  }
  return value as JsonObject;
}

/** `undefined` when absent or null (the OCI spec makes null equal to absent). */
export function optional(obj: JsonObject, key: string): unknown {
  const v = obj[key];
  return v === null ? undefined : v;
}

export function string(value: unknown, path: string): string {
  if (typeof value !== "string") fail(path, `must be a string, got ${kindOf(value)}`);
  return value;
}

export function optString(obj: JsonObject, key: string, path: string): string | undefined {
  const v = optional(obj, key);
  return v === undefined ? undefined : string(v, `${path}.${key}`);
}

export function stringArray(value: unknown, path: string): string[] {
  if (!Array.isArray(value)) fail(path, `must be an array of strings, got ${kindOf(value)}`);
  return value.map((v, i) => string(v, `${path}[${i}]`));
}

export function optStringArray(obj: JsonObject, key: string, path: string): string[] | undefined {
  const v = optional(obj, key);
  return v === undefined ? undefined : stringArray(v, `${path}.${key}`);
}

export function stringMap(value: unknown, path: string): Record<string, string> {
  const obj = object(value, path);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = string(v, `${path}[${JSON.stringify(k)}]`);
  return out;
}

export function optStringMap(
  obj: JsonObject,
  key: string,
  path: string,
): Record<string, string> | undefined {
  const v = optional(obj, key);
  return v === undefined ? undefined : stringMap(v, `${path}.${key}`);
}

/** A map whose values are empty objects (Go's `map[string]struct{}`). */
export function optSet(
  obj: JsonObject,
  key: string,
  path: string,
): Record<string, Record<string, never>> | undefined {
  const v = optional(obj, key);
  if (v === undefined) return undefined;
  const map = object(v, `${path}.${key}`);
  const out: Record<string, Record<string, never>> = {};
  for (const [k, entry] of Object.entries(map)) {
    object(entry, `${path}.${key}[${JSON.stringify(k)}]`);
    out[k] = {};
  }
  return out;
}

export function integer(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    fail(path, `must be an integer, got ${typeof value === "number" ? value : kindOf(value)}`);
  }
  return value;
}

export function optInteger(obj: JsonObject, key: string, path: string): number | undefined {
  const v = optional(obj, key);
  return v === undefined ? undefined : integer(v, `${path}.${key}`);
}

export function optBoolean(obj: JsonObject, key: string, path: string): boolean | undefined {
  const v = optional(obj, key);
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") fail(`${path}.${key}`, `must be a boolean, got ${kindOf(v)}`);
  return v;
}

export function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) fail(path, `must be an array, got ${kindOf(value)}`);
  return value;
}

// RFC 6838 type/subtype, restricted-name characters; parameters allowed.
const MEDIA_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(\s*;.*)?$/;

export function mediaType(value: unknown, path: string): string {
  const s = string(value, path);
  if (!MEDIA_TYPE.test(s)) fail(path, `invalid media type ${JSON.stringify(s)}`);
  return s;
}
