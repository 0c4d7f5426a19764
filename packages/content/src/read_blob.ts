import { DataLossError, ResourceExhaustedError } from "@strata/errdefs";
import type { Descriptor } from "./_oci.ts";
import type { Provider } from "./content.ts";

/**
 * Reads a whole blob into memory: for manifests, indexes and configs, never
 * for layers. Pass `maxSize` whenever the blob comes from outside.
 *
 * @throws {NotFoundError} when the provider has no such blob.
 * @throws {ResourceExhaustedError} when the blob is larger than `maxSize`.
 * @throws {DataLossError} when the blob ends before its size.
 *
 * @example
 * ```ts
 * const manifest = JSON.parse(
 *   new TextDecoder().decode(await readBlob(store, desc, { maxSize: 4 << 20 })),
 * );
 * ```
 */
export async function readBlob(
  provider: Provider,
  desc: Pick<Descriptor, "digest"> & { size?: number },
  options?: { maxSize?: number; signal?: AbortSignal },
): Promise<Uint8Array> {
  const maxSize = options?.maxSize;
  // Refuse before opening when the descriptor already says it is too big.
  if (maxSize !== undefined && desc.size !== undefined && desc.size > maxSize) {
    throw new ResourceExhaustedError(
      `cannot read blob ${desc.digest}: size ${desc.size} is over the limit of ${maxSize} bytes`,
    );
  }
  const reader = await provider.readerAt(
    desc,
    options?.signal === undefined ? undefined : { signal: options.signal },
  );
  try {
    if (maxSize !== undefined && reader.size > maxSize) {
      throw new ResourceExhaustedError(
        `cannot read blob ${desc.digest}: size ${reader.size} is over the limit of ${maxSize} bytes`,
      );
    }
    const buffer = new Uint8Array(reader.size);
    let filled = 0;
    while (filled < buffer.length) {
      options?.signal?.throwIfAborted();
      const n = await reader.readAt(buffer.subarray(filled), filled);
      if (n === 0) {
        throw new DataLossError(
          `cannot read blob ${desc.digest}: ended at ${filled} of ${buffer.length} bytes`,
        );
      }
      filled += n;
    }
    return buffer;
  } finally {
    await reader.close();
  }
}
