import zlib from "node:zlib";
import { DataLossError, ResourceExhaustedError } from "@strata/errdefs";
import { ByteReader, prepend, throwIfAborted } from "./_bytes.ts";
import { type PumpOptions, pump } from "./_pump.ts";
import { zstdFrames } from "./_zstd_frames.ts";
import { DETECT_HEAD_SIZE, detectCompression } from "./detect.ts";

/** Options of {@link decompress}. */
export interface DecompressOptions {
  /**
   * The most uncompressed bytes to produce. Past it the stream fails with
   * `ResourceExhaustedError`: a guard against decompression bombs. Applies to
   * uncompressed input too.
   */
  maxBytes?: number;
  signal?: AbortSignal;
}

// Compressed input is fed to decoders in blocks of this size.
const BLOCK_SIZE = 128 * 1024;
// Output chunk size of the decoders (node's default, 16 KiB, costs ~10%).
const OUT_CHUNK = 64 * 1024;

const ZSTD_MEMORY_ERRORS = new Set([
  "ZSTD_error_frameParameter_windowTooLarge",
  "ZSTD_error_memory_allocation",
]);

const damaged =
  (what: string) =>
  (err: unknown): Error => {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === "string" && ZSTD_MEMORY_ERRORS.has(code)) {
      return new ResourceExhaustedError(
        `cannot decompress ${what}: ${String((err as Error).message)}`,
        {
          cause: err,
        },
      );
    }
    const message = err instanceof Error ? err.message : String(err);
    if (message === "unexpected end of file") {
      return new DataLossError(`${what} truncated: ${message}`, { cause: err });
    }
    return new DataLossError(`corrupt ${what}: ${message}`, { cause: err });
  };

/**
 * Decompresses a layer blob, whatever its compression: gzip (any number of
 * members, so eStargz too), zstd (any number of frames, skippable frames
 * included), or uncompressed (passed through), told apart by the first bytes.
 *
 * Damaged input is a `DataLossError`: truncated input (a gzip member or zstd
 * frame cut short), bytes that are not a frame, a failed checksum.
 *
 * @throws {DataLossError} when the input is truncated or corrupt.
 * @throws {ResourceExhaustedError} when the output would pass `maxBytes`, or a
 *   zstd frame needs a window larger than 128 MiB.
 * @throws the source's errors, and the signal's reason on abort.
 *
 * @example
 * ```ts
 * for await (const chunk of decompress(blob, { maxBytes: 8 * 2 ** 30 })) tar.write(chunk);
 * ```
 */
export async function* decompress(
  source: AsyncIterable<Uint8Array>,
  options?: DecompressOptions,
): AsyncGenerator<Uint8Array> {
  const signal = options?.signal;
  const maxBytes = options?.maxBytes;
  throwIfAborted(signal);
  const reader = new ByteReader(source, signal);
  const head = await reader.readFull(DETECT_HEAD_SIZE);
  const compression = detectCompression(head);
  const opts = (what: string, base = 0): PumpOptions => {
    const o: PumpOptions = {
      what,
      blockSize: BLOCK_SIZE,
      mapError: damaged(what),
      outputBase: base,
    };
    if (maxBytes !== undefined) o.maxBytes = maxBytes;
    if (signal !== undefined) o.signal = signal;
    return o;
  };
  try {
    switch (compression) {
      case "uncompressed": {
        let total = 0;
        for await (const chunk of prepend(head, reader.rest())) {
          total += chunk.length;
          if (maxBytes !== undefined && total > maxBytes) {
            throw new ResourceExhaustedError(
              `cannot read uncompressed stream: more than the limit of ${maxBytes} bytes`,
            );
          }
          yield chunk;
        }
        return;
      }
      case "gzip":
        yield* pump(
          prepend(head, reader.rest()),
          zlib.createGunzip({ chunkSize: OUT_CHUNK }),
          opts("gzip stream"),
        );
        return;
      case "zstd": {
        let total = 0;
        const frames = zstdFrames(new ByteReader(prepend(head, reader.rest()), signal));
        for await (const frame of frames) {
          const decoder = zlib.createZstdDecompress({ chunkSize: OUT_CHUNK });
          for await (const chunk of pump(frame, decoder, opts("zstd stream", total))) {
            total += chunk.length;
            yield chunk;
          }
        }
        return;
      }
    }
  } finally {
    await reader.close();
  }
}
