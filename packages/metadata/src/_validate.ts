import { InvalidArgumentError } from "@strata/errdefs";
import { type Digest, isDigest } from "@strata/oci";

// The label rules are @strata/oci's; re-exported for this package's modules.
export { applyLabelUpdate, compactLabels, MAX_LABEL_SIZE, validateLabels } from "@strata/oci";

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

/** Parses a labels column. */
export function parseLabels(text: string): Record<string, string> {
  return JSON.parse(text) as Record<string, string>;
}
