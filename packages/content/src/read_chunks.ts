import { FailedPreconditionError } from "@strata/errdefs";
import type { ReaderAt } from "./content.ts";

/** Options of {@link readChunks}. */
export interface ReadChunksOptions {
  /** Where to start (default 0). */
  offset?: number;
  /** Bytes per chunk (default 4 MiB, what a local writer takes without copying). */
  chunkSize?: number;
  signal?: AbortSignal;
}

/** The chunk size of {@link readChunks}: a local writer's batch, written without a copy. */
export const READ_CHUNK_SIZE: number = 4 << 20;

/**
 * Reads `reader` from `offset` to its end in chunks through two reused
 * buffers, reading the next chunk while the caller handles the current one.
 * A chunk is valid until the caller asks for the next; that is enough for a
 * content Writer, which no longer holds a chunk once `write` resolves.
 * Memory stays at two chunks whatever the size.
 *
 * @throws {FailedPreconditionError} when `offset` is past the end.
 * @example
 * ```ts
 * for await (const chunk of readChunks(reader, { offset: status.offset })) {
 *   await writer.write(chunk);
 * }
 * ```
 */
export async function* readChunks(
  reader: ReaderAt,
  options: ReadChunksOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  let offset = options.offset ?? 0;
  const { signal } = options;
  if (offset > reader.size) {
    throw new FailedPreconditionError(
      `cannot read from offset ${offset}: the source has only ${reader.size} bytes`,
    );
  }
  const size = Math.max(1, Math.min(options.chunkSize ?? READ_CHUNK_SIZE, reader.size - offset));
  const buffers = [new Uint8Array(size), new Uint8Array(size)] as const;
  const read = (i: 0 | 1, at: number) => reader.readAt(buffers[i], at).then((n) => ({ n, at }));
  let current: 0 | 1 = 0;
  let pending: Promise<{ n: number; at: number }> | undefined =
    offset < reader.size ? read(0, offset) : undefined;
  try {
    while (pending !== undefined) {
      signal?.throwIfAborted();
      const { n, at } = await pending;
      pending = undefined;
      if (n === 0) return;
      offset = at + n;
      const next: 0 | 1 = current === 0 ? 1 : 0;
      // The buffer read into next was handed out two chunks ago: the caller is done with it.
      if (offset < reader.size) pending = read(next, offset);
      yield buffers[current].subarray(0, n);
      current = next;
    }
  } finally {
    // A read still in flight when the caller stops must not reject unobserved.
    await pending?.catch(() => {});
  }
}
