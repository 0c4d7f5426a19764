// Test helpers of this package's own tests: the registry (from testing.ts)
// and descriptors and streams of test bytes. Not exported from mod.ts.

import { createHash } from "node:crypto";
import type { Digest } from "./_oci.ts";

export {
  freePort,
  REGISTRY_BINARY,
  startRegistry,
  type TestRegistry,
  type TokenAuthConfig,
} from "./testing.ts";

/** A descriptor of `bytes`. */
export function descOf(
  bytes: Uint8Array,
  mediaType: string = "application/octet-stream",
): { mediaType: string; digest: Digest; size: number } {
  return {
    mediaType,
    digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
    size: bytes.byteLength,
  };
}

/** `bytes` as a stream of `size`-byte chunks. */
export async function* chunksOf(
  bytes: Uint8Array,
  size: number = 64 * 1024,
): AsyncGenerator<Uint8Array, void, undefined> {
  for (let at = 0; at < bytes.byteLength; at += size) yield bytes.subarray(at, at + size);
}

/** All of a stream in one buffer (tests only). */
export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return Buffer.concat(parts);
}
