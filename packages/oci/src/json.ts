import { InvalidArgumentError, ResourceExhaustedError } from "@strata/errdefs";

/** The default size limit of manifests, indexes and configs parsed here: 4 MiB. */
export const DEFAULT_MAX_JSON_BYTES: number = 4 * 1024 * 1024;

/** Options of the JSON document parsers. */
export interface ParseOptions {
  /** Largest document accepted, in bytes (UTF-8); default {@link DEFAULT_MAX_JSON_BYTES}. */
  maxBytes?: number;
}

/**
 * Parses a JSON document after checking its size; `what` names it in errors.
 *
 * @throws {ResourceExhaustedError} when the document is larger than `options.maxBytes`.
 * @throws {InvalidArgumentError} when it is not valid JSON.
 */
export function parseJsonDocument(
  json: Uint8Array | string,
  what: string,
  options?: ParseOptions,
): unknown {
  const max = options?.maxBytes ?? DEFAULT_MAX_JSON_BYTES;
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new InvalidArgumentError(`cannot parse ${what}: maxBytes must be a non-negative integer`);
  }
  const size = typeof json === "string" ? Buffer.byteLength(json, "utf8") : json.byteLength;
  if (size > max) {
    throw new ResourceExhaustedError(
      `cannot parse ${what}: document is ${size} bytes, more than the limit of ${max}`,
    );
  }
  const text = typeof json === "string" ? json : new TextDecoder().decode(json);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidArgumentError(
      `cannot parse ${what}: invalid JSON: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}
