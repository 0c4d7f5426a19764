/**
 * Drives one node:zlib stream (gzip, zstd, their decoders) from an
 * `AsyncIterable<Uint8Array>` and hands its output back as one, with
 * backpressure both ways, a bound on output and cancellation.
 *
 * @module
 */
import type { Transform } from "node:stream";
import { ResourceExhaustedError } from "@strata/errdefs";
import { rechunk } from "./_bytes.ts";

/** Options of {@link pump}. */
export interface PumpOptions {
  /** What is being processed, for messages ("zstd stream"). */
  what: string;
  /**
   * Feed the stream blocks of exactly this size. Compressors get it so that
   * their output never depends on the source's chunking.
   */
  blockSize?: number;
  /** Refuse to produce more than this many bytes (a decompression bomb). */
  maxBytes?: number;
  /** Bytes produced before this stream, counted against `maxBytes`. */
  outputBase?: number;
  /** Turns an error of the zlib stream itself into the error to throw. */
  mapError: (err: unknown) => Error;
  signal?: AbortSignal;
}

function waitDrainOrClose(stream: Transform): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off("drain", done);
      stream.off("close", done);
      resolve();
    };
    stream.on("drain", done);
    stream.on("close", done);
  });
}

/**
 * Pipes `source` through `stream` and yields what comes out.
 *
 * The stream is ended only after every write has been processed: ending a
 * node:zlib zstd compressor while writes are still queued makes it append an
 * extra empty frame (nodejs/node#66078), so its bytes would depend on timing.
 *
 * Errors: the source's own errors pass through unchanged; the signal's reason
 * on abort; `ResourceExhaustedError` past `maxBytes`; the stream's errors go
 * through `options.mapError`.
 */
export async function* pump(
  source: AsyncIterable<Uint8Array>,
  stream: Transform,
  options: PumpOptions,
): AsyncGenerator<Uint8Array> {
  const { signal, maxBytes } = options;
  let sourceError: { error: unknown } | undefined;
  let stopped = false;
  const onAbort = (): void => {
    stream.destroy(signal?.reason as Error);
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  const writer = (async (): Promise<void> => {
    const input = options.blockSize === undefined ? source : rechunk(source, options.blockSize);
    const it = input[Symbol.asyncIterator]();
    let last: Promise<void> = Promise.resolve();
    try {
      for (;;) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await it.next();
        } catch (error) {
          sourceError = { error };
          stream.destroy(error as Error);
          return;
        }
        if (next.done === true) break;
        if (stopped || stream.destroyed) {
          await it.return?.(undefined);
          return;
        }
        let ok = true;
        last = new Promise<void>((resolve, reject) => {
          ok = stream.write(next.value, (err) => (err == null ? resolve() : reject(err)));
        });
        // A failed write also fails the stream, which the reader reports.
        last.catch(() => {});
        if (!ok) await waitDrainOrClose(stream);
      }
      await last;
      if (!stream.destroyed) stream.end();
    } catch {
      // The stream failed; the reader sees its error.
    }
  })();

  let total = options.outputBase ?? 0;
  let finished = false;
  try {
    for await (const chunk of stream as AsyncIterable<Uint8Array>) {
      total += chunk.byteLength;
      if (maxBytes !== undefined && total > maxBytes) {
        throw new ResourceExhaustedError(
          `cannot decode ${options.what}: output exceeds the limit of ${maxBytes} bytes`,
        );
      }
      yield chunk;
    }
    finished = true;
  } catch (err) {
    if (sourceError !== undefined) throw sourceError.error;
    if (signal?.aborted === true) throw signal.reason;
    if (err instanceof ResourceExhaustedError) throw err;
    throw options.mapError(err);
  } finally {
    stopped = true;
    signal?.removeEventListener("abort", onAbort);
    if (!stream.destroyed) stream.destroy();
    // On a normal end the writer is already done; after an early exit it
    // may wait on the source, so it is left to finish on its own.
    if (finished) await writer;
  }
  if (sourceError !== undefined) throw sourceError.error;
  if (signal?.aborted === true) throw signal.reason;
}
