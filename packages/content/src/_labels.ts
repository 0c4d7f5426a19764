import { InvalidArgumentError } from "@strata/errdefs";

/** containerd's limit on one label: key and value together, in bytes. */
export const MAX_LABEL_SIZE = 4096;

/**
 * Checks labels as containerd's `labels.Validate` does.
 *
 * @throws {InvalidArgumentError} on an empty key or a key+value over 4096 bytes.
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
