import { InvalidArgumentError } from "@strata/errdefs";
import { type Digest, isDigest } from "@strata/oci";

/** containerd's limit on one label: key and value together, in bytes. */
export const MAX_LABEL_SIZE = 4096;

const IDENTIFIER = /^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$/;
const MAX_IDENTIFIER = 76;

/** @throws {InvalidArgumentError} when `name` is not a containerd identifier. */
export function validateNamespace(name: string): void {
  if (name === "") throw new InvalidArgumentError("namespace is required: empty name");
  if (name.length > MAX_IDENTIFIER) {
    throw new InvalidArgumentError(
      `invalid namespace ${JSON.stringify(name.slice(0, 80))}: longer than ${MAX_IDENTIFIER} characters`,
    );
  }
  if (!IDENTIFIER.test(name)) {
    throw new InvalidArgumentError(
      `invalid namespace ${JSON.stringify(name)}: must match ${IDENTIFIER.source}`,
    );
  }
}

/** @throws {InvalidArgumentError} when `digest` is not `sha256:<64 hex>` or `sha512:<128 hex>`. */
export function validateDigest(digest: string, context: string): asserts digest is Digest {
  if (!isDigest(digest)) {
    throw new InvalidArgumentError(
      `${context}: invalid digest ${JSON.stringify(digest.slice(0, 160))}`,
    );
  }
}

/** @throws {InvalidArgumentError} on an empty key or a key+value over 4096 bytes. */
export function validateLabels(labels: Readonly<Record<string, string>>, context: string): void {
  for (const [key, value] of Object.entries(labels)) {
    if (key === "") throw new InvalidArgumentError(`${context}: label key is empty`);
    if (typeof value !== "string") {
      throw new InvalidArgumentError(`${context}: label ${JSON.stringify(key)} is not a string`);
    }
    const size = Buffer.byteLength(key) + Buffer.byteLength(value);
    if (size > MAX_LABEL_SIZE) {
      throw new InvalidArgumentError(
        `${context}: label ${JSON.stringify(key.slice(0, 64))} is ${size} bytes, over the ${MAX_LABEL_SIZE}-byte limit`,
      );
    }
  }
}

/** A copy without empty values (an empty value means "no such label"). */
export function compactLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) if (value !== "") out[key] = value;
  return out;
}

/** Parses a labels column. */
export function parseLabels(text: string): Record<string, string> {
  return JSON.parse(text) as Record<string, string>;
}

/**
 * Applies containerd's update fieldpaths to labels: none or `labels` replace
 * all, `labels.<key>` sets one key (absent or empty value removes it).
 *
 * @throws {InvalidArgumentError} on any other fieldpath.
 */
export function applyLabelUpdate(
  current: Readonly<Record<string, string>>,
  given: Readonly<Record<string, string>>,
  fieldpaths: readonly string[],
  context: string,
): Record<string, string> {
  for (const fp of fieldpaths) {
    if (fp === "labels") continue;
    if (fp.startsWith("labels.") && fp.length > "labels.".length) continue;
    throw new InvalidArgumentError(`${context}: cannot update field ${JSON.stringify(fp)}`);
  }
  if (fieldpaths.length === 0 || fieldpaths.includes("labels")) return compactLabels(given);
  const labels = { ...current };
  for (const fp of fieldpaths) {
    const key = fp.slice("labels.".length);
    const value = given[key];
    if (value === undefined || value === "") delete labels[key];
    else labels[key] = value;
  }
  return labels;
}
