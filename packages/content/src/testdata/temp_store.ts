import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Digest } from "@strata/oci";
import { LocalStore, type LocalStoreOptions } from "../local_store.ts";

/** A LocalStore in a fresh temporary directory, for tests. */
export async function tempStore(
  options?: LocalStoreOptions,
): Promise<{ store: LocalStore; root: string; [Symbol.asyncDispose](): Promise<void> }> {
  const root = await mkdtemp(join(tmpdir(), "strata-content-"));
  const store = await LocalStore.open(root, options);
  return {
    store,
    root,
    async [Symbol.asyncDispose]() {
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export function sha256(data: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

export function sha512(data: Uint8Array | string): Digest {
  return `sha512:${createHash("sha512").update(data).digest("hex")}`;
}
