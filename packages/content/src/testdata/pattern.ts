import { createHash } from "node:crypto";
import type { Digest } from "@strata/oci";

/** `length` bytes of the pattern of `seed` starting at `offset`: a pure function of both. */
export function patternBytes(seed: number, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const p = offset + i;
    out[i] = (Math.imul(p ^ (seed * 0x9e3779b1), 0x85ebca6b) >>> 24) & 0xff;
  }
  return out;
}

/** The sha256 digest of the first `size` bytes of the pattern of `seed`. */
export function patternDigest(seed: number, size: number): Digest {
  const hash = createHash("sha256");
  const chunk = 1 << 20;
  for (let offset = 0; offset < size; offset += chunk) {
    hash.update(patternBytes(seed, offset, Math.min(chunk, size - offset)));
  }
  return `sha256:${hash.digest("hex")}`;
}
