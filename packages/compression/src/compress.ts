import zlib from "node:zlib";
import { InternalError, InvalidArgumentError } from "@strata/errdefs";
import { throwIfAborted } from "./_bytes.ts";
import { parallelGzip } from "./_parallel_gzip.ts";
import { pump } from "./_pump.ts";
import type { Compression } from "./compression.ts";
import { writeEstargz } from "./estargz_writer.ts";

/**
 * Whether gzip uses the parallel (pigz-style) compressor when the caller does
 * not say. Decided by `bench/gzip.ts` on a 2-core machine (see README).
 */
export const GZIP_PARALLEL_DEFAULT: boolean = true;

// The block size compressors are fed with: fixed, so output never depends on
// how the source happens to be chunked.
const BLOCK_SIZE = 128 * 1024;
// Output chunk size of the zlib streams (node's default, 16 KiB, costs ~10%).
const OUT_CHUNK = 64 * 1024;

/** Options of {@link compress}. */
export interface CompressOptions {
  /**
   * Compression level: gzip and estargz 0-9 (default 6), zstd 1-22 (default
   * 3). Ignored for uncompressed.
   */
  level?: number;
  /**
   * gzip only: compress blocks on several threads (pigz's method) instead of
   * one node:zlib stream. The default is {@link GZIP_PARALLEL_DEFAULT}. Both
   * make standard gzip; their bytes differ.
   */
  parallel?: boolean;
  /** estargz only: the size of the chunks large files are cut into (default 4 MiB). */
  chunkSize?: number;
  signal?: AbortSignal;
}

function checkLevel(
  compression: Compression,
  level: number | undefined,
  min: number,
  max: number,
): void {
  if (level === undefined) return;
  if (!Number.isInteger(level) || level < min || level > max) {
    throw new InvalidArgumentError(
      `invalid ${compression} compression level ${level}: must be an integer from ${min} to ${max}`,
    );
  }
}

const internal =
  (what: string) =>
  (err: unknown): Error =>
    new InternalError(`cannot compress ${what}: ${String(err)}`, { cause: err });

/**
 * Compresses a stream (an uncompressed layer tar, for estargz) with the given
 * compression. The bytes depend only on the input and the options: never on
 * how the source is chunked or timed.
 *
 * zstd frames carry a content checksum, as the `zstd` CLI writes them. To get
 * the eStargz TOC digest that a layer descriptor needs, use `writeEstargz`.
 *
 * @throws {InvalidArgumentError} for an unknown compression or a level out of
 *   range, and (estargz) for input that is not a tar stream.
 * @throws the source's errors, and the signal's reason on abort.
 *
 * @example
 * ```ts
 * const blob = compress(fs.createReadStream("layer.tar"), "zstd", { level: 3 });
 * await pipeline(blob, fs.createWriteStream("layer.tar.zst"));
 * ```
 */
export function compress(
  source: AsyncIterable<Uint8Array>,
  compression: Compression,
  options?: CompressOptions,
): AsyncIterable<Uint8Array> {
  const signal = options?.signal;
  switch (compression) {
    case "uncompressed":
      return passThrough(source, signal);
    case "gzip": {
      checkLevel(compression, options?.level, 0, 9);
      const level = options?.level ?? 6;
      if (options?.parallel ?? GZIP_PARALLEL_DEFAULT) {
        return parallelGzip(source, signal === undefined ? { level } : { level, signal });
      }
      return lazyPump(
        source,
        () => zlib.createGzip({ level, chunkSize: OUT_CHUNK }),
        "gzip stream",
        signal,
      );
    }
    case "zstd": {
      checkLevel(compression, options?.level, 1, 22);
      const level = options?.level ?? 3;
      return lazyPump(
        source,
        () =>
          zlib.createZstdCompress({
            chunkSize: OUT_CHUNK,
            params: {
              [zlib.constants.ZSTD_c_compressionLevel]: level,
              [zlib.constants.ZSTD_c_checksumFlag]: 1,
            },
          }),
        "zstd stream",
        signal,
      );
    }
    case "estargz": {
      checkLevel(compression, options?.level, 0, 9);
      const opts: Parameters<typeof writeEstargz>[1] = {};
      if (options?.level !== undefined) opts.level = options.level;
      if (options?.chunkSize !== undefined) opts.chunkSize = options.chunkSize;
      if (signal !== undefined) opts.signal = signal;
      const written = writeEstargz(source, opts);
      // The caller of compress() has no use for the TOC digest; its failure
      // is the stream's failure, reported there.
      written.result.catch(() => {});
      return written.stream;
    }
  }
  throw new InvalidArgumentError(`unknown compression "${String(compression)}"`);
}

async function* passThrough(
  source: AsyncIterable<Uint8Array>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    throwIfAborted(signal);
    yield chunk;
  }
  throwIfAborted(signal);
}

// The zlib stream is made when iteration starts, so an unused result holds nothing.
async function* lazyPump(
  source: AsyncIterable<Uint8Array>,
  make: () => zlib.Gzip | zlib.ZstdCompress,
  what: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  throwIfAborted(signal);
  const opts: Parameters<typeof pump>[2] = {
    what,
    blockSize: BLOCK_SIZE,
    mapError: internal(what),
  };
  if (signal !== undefined) opts.signal = signal;
  yield* pump(source, make(), opts);
}
