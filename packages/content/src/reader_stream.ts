import { InvalidArgumentError } from "@strata/errdefs";
import type { ReaderAt } from "./content.ts";

/** The default chunk size of {@link readerStream} and {@link copy}: 1 MiB. */
export const DEFAULT_CHUNK_SIZE: number = 1 << 20;

/**
 * Streams a {@link ReaderAt} from `offset` (default 0) to its end, in chunks
 * of at most `chunkSize` bytes (default 1 MiB). Each chunk is a fresh array
 * the consumer may keep. The reader is not closed.
 *
 * @throws {InvalidArgumentError} on a negative or past-the-end offset or a chunk size below 1.
 *
 * @example
 * ```ts
 * const ra = await store.readerAt({ digest });
 * try {
 *   for await (const chunk of readerStream(ra)) hash.update(chunk);
 * } finally {
 *   await ra.close();
 * }
 * ```
 */
export async function* readerStream(
  reader: ReaderAt,
  options?: { offset?: number; chunkSize?: number; signal?: AbortSignal },
): AsyncGenerator<Uint8Array, void, undefined> {
  const chunkSize = options?.chunkSize ?? DEFAULT_CHUNK_SIZE;
  let offset = options?.offset ?? 0;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new InvalidArgumentError(`cannot stream reader: invalid chunk size ${chunkSize}`);
  }
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > reader.size) {
    throw new InvalidArgumentError(
      `cannot stream reader from offset ${offset}: size is ${reader.size}`,
    );
  }
  while (offset < reader.size) {
    options?.signal?.throwIfAborted();
    const buffer = new Uint8Array(Math.min(chunkSize, reader.size - offset));
    const n = await reader.readAt(buffer, offset);
    if (n === 0) break;
    offset += n;
    yield n === buffer.length ? buffer : buffer.subarray(0, n);
  }
}
