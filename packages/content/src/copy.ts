import { DataLossError, FailedPreconditionError, isAlreadyExists } from "@strata/errdefs";
import type { Descriptor } from "./_oci.ts";
import type { CommitOptions, Provider, ReaderAt, Writer } from "./content.ts";
import { READ_CHUNK_SIZE, readChunks } from "./read_chunks.ts";

/** Where {@link copy} takes bytes from. */
export type CopySource = ReaderAt | Provider | AsyncIterable<Uint8Array> | Uint8Array;

/** Options of {@link copy}. */
export interface CopyOptions extends CommitOptions {
  /** Read size for ReaderAt and Provider sources; default 4 MiB ({@link READ_CHUNK_SIZE}). */
  chunkSize?: number;
}

function isReaderAt(source: CopySource): source is ReaderAt {
  return typeof (source as Partial<ReaderAt>).readAt === "function";
}

function isProvider(source: CopySource): source is Provider {
  return typeof (source as Partial<Provider>).readerAt === "function";
}

/**
 * Copies `desc`'s bytes from `source` into `writer` and commits with
 * `desc.size` and `desc.digest`, as containerd's `content.Copy`: it resumes
 * at the writer's offset (a ReaderAt or Provider reads from there, a stream
 * or array skips what is already written), and a blob that already exists
 * counts as success. The writer is always released.
 *
 * @throws {FailedPreconditionError} when the result does not match `desc`
 *   (the ingest is kept; abort it or truncate and retry).
 * @throws {DataLossError} when the source ends before `desc.size`.
 *
 * @example
 * ```ts
 * const writer = await openWriter(store, { ref: `pull-${desc.digest}`, desc });
 * await copy(writer, remoteProvider, desc);
 * ```
 */
export async function copy(
  writer: Writer,
  source: CopySource,
  desc: Pick<Descriptor, "digest" | "size">,
  options?: CopyOptions,
): Promise<void> {
  const signal = options?.signal;
  try {
    const { offset } = await writer.status();
    if (desc.size > 0 && offset > desc.size) {
      throw new FailedPreconditionError(
        `cannot copy ${desc.digest} into ingest ${JSON.stringify(writer.ref)}: it already has ${offset} bytes, more than ${desc.size}`,
      );
    }
    let written = offset;
    for await (const chunk of chunksFrom(source, desc, offset, options)) {
      signal?.throwIfAborted();
      await writer.write(chunk, signal === undefined ? undefined : { signal });
      written += chunk.length;
    }
    if (desc.size > 0 && written < desc.size) {
      throw new DataLossError(
        `cannot copy ${desc.digest}: source ended at ${written} of ${desc.size} bytes`,
      );
    }
    const commitOptions: CommitOptions = {};
    if (options?.labels !== undefined) commitOptions.labels = options.labels;
    if (signal !== undefined) commitOptions.signal = signal;
    await writer.commit(desc.size, desc.digest, commitOptions);
  } catch (err) {
    await writer.close();
    if (isAlreadyExists(err)) return;
    throw err;
  }
}

async function* chunksFrom(
  source: CopySource,
  desc: Pick<Descriptor, "digest" | "size">,
  offset: number,
  options: CopyOptions | undefined,
): AsyncGenerator<Uint8Array, void, undefined> {
  const chunkSize = options?.chunkSize ?? READ_CHUNK_SIZE;
  if (source instanceof Uint8Array) {
    if (offset < source.length) yield source.subarray(offset);
    return;
  }
  if (isReaderAt(source)) {
    yield* readChunks(source, { offset, chunkSize, ...signalOf(options) });
    return;
  }
  if (isProvider(source)) {
    const reader = await source.readerAt(
      { digest: desc.digest, size: desc.size },
      options?.signal === undefined ? undefined : { signal: options.signal },
    );
    try {
      yield* readChunks(reader, { offset, chunkSize, ...signalOf(options) });
    } finally {
      await reader.close();
    }
    return;
  }
  // A plain stream cannot seek: skip what the ingest already has.
  let skip = offset;
  for await (const chunk of source) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    yield skip > 0 ? chunk.subarray(skip) : chunk;
    skip = 0;
  }
}

function signalOf(options: CopyOptions | undefined): { signal?: AbortSignal } {
  return options?.signal === undefined ? {} : { signal: options.signal };
}
