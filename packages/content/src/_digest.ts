import { createHash, type Hash } from "node:crypto";
import { InvalidArgumentError } from "@strata/errdefs";
import type { Digest } from "./_oci.ts";

// Hex lengths of the algorithms the store accepts (OCI image-spec: sha256, sha512).
const HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };

/** The algorithm of new writers when nothing says otherwise. */
export const CANONICAL_ALGORITHM = "sha256";

export interface ParsedDigest {
  readonly algorithm: string;
  readonly encoded: string;
}

export function isSupportedAlgorithm(algorithm: string): boolean {
  return Object.hasOwn(HEX_LENGTH, algorithm);
}

/** Splits and validates a digest; throws InvalidArgument with `context` leading the message. */
export function parseDigest(digest: string, context: string): ParsedDigest {
  const colon = typeof digest === "string" ? digest.indexOf(":") : -1;
  if (colon <= 0) {
    throw new InvalidArgumentError(`${context}: invalid digest ${JSON.stringify(digest)}`);
  }
  const algorithm = digest.slice(0, colon);
  const encoded = digest.slice(colon + 1);
  const length = HEX_LENGTH[algorithm];
  if (length === undefined) {
    throw new InvalidArgumentError(
      `${context}: unsupported digest algorithm ${JSON.stringify(algorithm)}`,
    );
  }
  if (encoded.length !== length || !/^[a-f0-9]+$/.test(encoded)) {
    throw new InvalidArgumentError(`${context}: invalid digest ${JSON.stringify(digest)}`);
  }
  return { algorithm, encoded };
}

export function isValidEncoded(algorithm: string, encoded: string): boolean {
  return encoded.length === HEX_LENGTH[algorithm] && /^[a-f0-9]+$/.test(encoded);
}

export function newHash(algorithm: string): Hash {
  return createHash(algorithm);
}

/** The digest of what `hash` has seen so far, leaving `hash` usable. */
export function digestOf(algorithm: string, hash: Hash): Digest {
  return `${algorithm}:${hash.copy().digest("hex")}` as Digest;
}

export function makeDigest(algorithm: string, encoded: string): Digest {
  return `${algorithm}:${encoded}` as Digest;
}
