import { randomBytes } from "node:crypto";
import { type Digest, digestOf } from "@strata/oci";

/** A new record id: 25 lowercase base-32 characters, as BuildKit's identity.NewID. */
export function newID(): string {
  const bytes = randomBytes(16);
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out.slice(0, 25);
}

/** ChainID of two digests: sha256 of `"<a> <b>"`. */
export function chainOf(a: Digest, b: Digest): Digest {
  return digestOf(`${a} ${b}`);
}

/** BuildKit's per-layer blob ID: ChainID([blob, diffID]). */
export function blobID(blob: Digest, diffID: Digest): Digest {
  return chainOf(blob, diffID);
}
