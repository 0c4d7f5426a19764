/**
 * gzip of one stream on several threads, pigz's way: the input is cut into
 * fixed blocks, each block is deflated on the libuv threadpool with the 32 KiB
 * before it as preset dictionary and ends on a byte boundary (sync flush), the
 * last one with the final bit (finish). The pieces, between a gzip header and
 * a trailer (CRC-32, size mod 2^32), make one standard gzip member.
 *
 * The output depends only on the input, the level and the block size.
 *
 * @module
 */
import { availableParallelism } from "node:os";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { InternalError } from "@strata/errdefs";
import { rechunk, throwIfAborted } from "./_bytes.ts";

const deflateRaw = promisify(zlib.deflateRaw) as (
  buf: Uint8Array,
  options: zlib.ZlibOptions,
) => Promise<Buffer>;

/** The block size pigz uses by default. */
export const PARALLEL_GZIP_BLOCK_SIZE: number = 128 * 1024;
const WINDOW = 32 * 1024;

/** Options of {@link parallelGzip}. */
export interface ParallelGzipOptions {
  /** zlib level, 0-9 (default 6). */
  level?: number;
  /** Input block size (default 128 KiB, at least 32 KiB). */
  blockSize?: number;
  /** Blocks in flight at once (default: twice the available parallelism, plus 2). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** The 10-byte gzip header: no name, no mtime, OS Unix, as node:zlib writes it. */
export function gzipHeader(level: number): Uint8Array {
  const xfl = level === 9 ? 2 : level === 1 ? 4 : 0;
  return Uint8Array.of(0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, xfl, 3);
}

/** The 8-byte gzip trailer: CRC-32 and size mod 2^32, little-endian. */
export function gzipTrailer(crc: number, size: number): Uint8Array {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, crc >>> 0, true);
  view.setUint32(4, size % 2 ** 32, true);
  return out;
}

/**
 * Compresses a stream to one gzip member using several threads.
 *
 * @throws the source's errors, the signal's reason on abort.
 */
export async function* parallelGzip(
  source: AsyncIterable<Uint8Array>,
  options?: ParallelGzipOptions,
): AsyncGenerator<Uint8Array> {
  const level = options?.level ?? 6;
  const blockSize = Math.max(options?.blockSize ?? PARALLEL_GZIP_BLOCK_SIZE, WINDOW);
  const concurrency = Math.max(1, options?.concurrency ?? availableParallelism() * 2 + 2);
  const signal = options?.signal;

  yield gzipHeader(level);
  let crc = 0;
  let size = 0;
  let previous: Uint8Array | undefined;
  const inFlight: Promise<Buffer>[] = [];
  const it = rechunk(source, blockSize)[Symbol.asyncIterator]();
  // Holding one block back tells which block is the last one.
  let pending = await it.next();
  if (pending.done === true) {
    // Empty input: one empty final block.
    yield await deflateRaw(new Uint8Array(0), { level });
  }
  try {
    while (pending.done !== true) {
      throwIfAborted(signal);
      const block = pending.value;
      pending = await it.next();
      const last = pending.done === true;
      crc = zlib.crc32(block, crc);
      size += block.length;
      const opts: zlib.ZlibOptions = {
        level,
        finishFlush: last ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
      };
      if (previous !== undefined) {
        opts.dictionary = previous.subarray(Math.max(0, previous.length - WINDOW));
      }
      const job = deflateRaw(block, opts);
      // Failures surface when the job is awaited, in order.
      job.catch(() => {});
      inFlight.push(job);
      // Every block but the last is a whole block, at least WINDOW long.
      previous = block;
      while (inFlight.length >= concurrency || (last && inFlight.length > 0)) {
        const head = inFlight.shift();
        if (head !== undefined) yield await head;
      }
    }
  } catch (err) {
    if (signal?.aborted === true) throw signal.reason;
    if (isZlibError(err)) throw new InternalError(`cannot gzip: ${String(err)}`, { cause: err });
    throw err;
  } finally {
    await it.return?.(undefined);
  }
  yield gzipTrailer(crc, size);
}

function isZlibError(err: unknown): boolean {
  return typeof err === "object" && err !== null && "errno" in err && "code" in err;
}
