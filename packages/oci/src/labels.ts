import { InvalidArgumentError } from "@strata/errdefs";

/** containerd's limit on one label: key and value together, in bytes. */
export const MAX_LABEL_SIZE = 4096;

/**
 * Checks labels as containerd's `labels.Validate` does.
 *
 * @throws {InvalidArgumentError} on an empty key, a non-string value, or a key+value over 4096 bytes.
 */
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

/**
 * Applies containerd's update fieldpaths to labels: none or `labels` replace
 * all, `labels.<key>` sets one key (an absent or empty value removes it).
 * The result is validated.
 *
 * @throws {InvalidArgumentError} on any other fieldpath, or labels {@link validateLabels} refuses.
 * @example
 * ```ts
 * applyLabelUpdate({ a: "1", b: "2" }, { b: "" , c: "3" }, ["labels.b", "labels.c"], "update");
 * // { a: "1", c: "3" }
 * ```
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
  let labels: Record<string, string>;
  if (fieldpaths.length === 0 || fieldpaths.includes("labels")) {
    labels = compactLabels(given);
  } else {
    labels = { ...current };
    for (const fp of fieldpaths) {
      const key = fp.slice("labels.".length);
      const value = Object.hasOwn(given, key) ? given[key] : undefined;
      if (value === undefined || value === "") delete labels[key];
      else labels[key] = value;
    }
  }
  validateLabels(labels, context);
  return labels;
}
