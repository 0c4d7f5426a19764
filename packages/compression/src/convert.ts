import { InternalError, InvalidArgumentError } from "@strata/errdefs";
import { ByteReader, prepend, throwIfAborted } from "./_bytes.ts";
import { ANNOTATION_UNCOMPRESSED, type Descriptor, type Digest, newDigester } from "./_oci.ts";
import { Pipe } from "./_pipe.ts";
import { compress } from "./compress.ts";
import { type Compression, isCompression } from "./compression.ts";
import { decompress } from "./decompress.ts";
import { DETECT_HEAD_SIZE, detectCompression } from "./detect.ts";
import { writeEstargz } from "./estargz_writer.ts";
import { mediaTypeFor } from "./media_types.ts";

/** Options of {@link convert}. */
export interface ConvertOptions {
  /**
   * The source's compression, when known (from its media type and
   * annotations). It must agree with the source's first bytes. When it equals
   * the target the bytes pass through unchanged. Without it the compression
   * is detected from the bytes (eStargz then counts as gzip).
   */
  from?: Compression;
  /** Compression level of the target (see `compress`). */
  level?: number;
  /** gzip: use the parallel compressor (see `compress`). */
  parallel?: boolean;
  /** estargz: chunk size of large files (default 4 MiB). */
  chunkSize?: number;
  /** Give the Docker media type in the result's descriptor. */
  docker?: boolean;
  /** Refuse a source that decompresses to more than this many bytes (`ResourceExhaustedError`). */
  maxBytes?: number;
  signal?: AbortSignal;
}

/** What a conversion produced, known once its stream has been read to the end. */
export interface ConvertResult {
  /**
   * The new blob's descriptor: media type of the target, digest, size, and
   * annotations (`containerd.io/uncompressed`; for eStargz also its TOC
   * digest and uncompressed size).
   */
  descriptor: Descriptor;
  /** The diffID of the new blob: the digest of its uncompressed bytes. */
  diffID: Digest;
  /** The size of its uncompressed bytes. */
  uncompressedSize: number;
  /**
   * The diffID of the source. Equal to `diffID` except when converting to
   * eStargz, whose uncompressed stream gains the TOC entry.
   */
  sourceDiffID: Digest;
}

/** A converted blob: read `stream` to the end, then `result` settles. */
export interface Conversion {
  /** The new blob's bytes. Read it once. */
  stream: AsyncIterable<Uint8Array>;
  /** Settles when `stream` has been read to the end; rejects with its error if it failed. */
  result: Promise<ConvertResult>;
}

/**
 * Converts a layer blob to another compression, keeping its uncompressed
 * bytes (its diffID), and reports the new blob's digest, size and diffID.
 *
 * - Same compression in and out (`from` given or detected): the bytes pass
 *   through unchanged; they are still decoded to compute the diffID and to
 *   enforce `maxBytes`. For eStargz to eStargz the result then has no TOC
 *   annotations: open the blob with `openEstargz` for those.
 * - To eStargz: the tar gains the TOC entry, so the diffID changes (as in
 *   BuildKit); `sourceDiffID` is the old one.
 * - From eStargz: the uncompressed bytes (TOC entry included) are kept as
 *   they are, so the diffID is unchanged (BuildKit strips the TOC instead).
 *
 * @throws {InvalidArgumentError} (at once) for an unknown compression, a bad
 *   level, a Docker media type that does not exist; (from the stream) when
 *   `from` disagrees with the bytes.
 * @throws {DataLossError} (from the stream) when the source is truncated or corrupt.
 * @throws {ResourceExhaustedError} (from the stream) past `maxBytes`.
 *
 * @example
 * ```ts
 * const { stream, result } = convert(store.read(gzipDesc), "zstd", { from: "gzip", maxBytes });
 * await ingest.write(stream);
 * const { descriptor, diffID } = await result; // diffID === the gzip blob's diffID
 * ```
 */
export function convert(
  source: AsyncIterable<Uint8Array>,
  to: Compression,
  options?: ConvertOptions,
): Conversion {
  if (!isCompression(to)) throw new InvalidArgumentError(`unknown compression "${String(to)}"`);
  const from = options?.from;
  if (from !== undefined && !isCompression(from)) {
    throw new InvalidArgumentError(`unknown compression "${String(from)}"`);
  }
  const mediaType = mediaTypeFor(to, options?.docker === true ? { docker: true } : {});
  // Validate level and chunk size now rather than from inside the stream.
  if (to !== "uncompressed" && options?.level !== undefined) {
    const max = to === "zstd" ? 22 : 9;
    const min = to === "zstd" ? 1 : 0;
    if (!Number.isInteger(options.level) || options.level < min || options.level > max) {
      throw new InvalidArgumentError(
        `invalid ${to} compression level ${options.level}: must be an integer from ${min} to ${max}`,
      );
    }
  }

  let settle!: { resolve: (r: ConvertResult) => void; reject: (e: unknown) => void };
  const result = new Promise<ConvertResult>((resolve, reject) => {
    settle = { resolve, reject };
  });
  result.catch(() => {});
  const stream = (async function* (): AsyncGenerator<Uint8Array> {
    let done = false;
    try {
      const r = yield* run(source, to, mediaType, options ?? {});
      done = true;
      settle.resolve(r);
    } catch (err) {
      settle.reject(err);
      throw err;
    } finally {
      if (!done) settle.reject(new InternalError("conversion stream was not read to the end"));
    }
  })();
  return { stream, result };
}

function agrees(declared: Compression, detected: Compression): boolean {
  return declared === detected || (declared === "estargz" && detected === "gzip");
}

async function* run(
  source: AsyncIterable<Uint8Array>,
  to: Compression,
  mediaType: string,
  options: ConvertOptions,
): AsyncGenerator<Uint8Array, ConvertResult> {
  const { signal, maxBytes } = options;
  throwIfAborted(signal);
  const reader = new ByteReader(source, signal);
  const head = await reader.readFull(DETECT_HEAD_SIZE);
  const detected = detectCompression(head);
  if (options.from !== undefined && !agrees(options.from, detected)) {
    await reader.close();
    throw new InvalidArgumentError(
      `cannot convert from ${options.from}: the blob's first bytes say ${detected}`,
    );
  }
  const from = options.from ?? detected;
  const input = prepend(head, reader.rest());
  const decodeOptions = {
    ...(maxBytes === undefined ? {} : { maxBytes }),
    ...(signal === undefined ? {} : { signal }),
  };
  const blob = newDigester();
  const descriptor = (
    digest: Digest,
    size: number,
    annotations: Record<string, string>,
  ): Descriptor => ({
    mediaType,
    digest,
    size,
    annotations,
  });

  if (from === to) {
    // Pass through; decode on the side for the diffID (and the bound).
    const pipe = new Pipe();
    const diff = newDigester();
    let failed: { error: unknown } | undefined;
    const decoding = (async (): Promise<void> => {
      try {
        for await (const chunk of decompress(pipe, decodeOptions)) diff.update(chunk);
      } catch (error) {
        failed = { error };
        throw error;
      }
    })();
    decoding.catch(() => {});
    try {
      for await (const chunk of input) {
        await pipe.push(chunk);
        // Stop at once on a bomb or damage, not at the end of the source.
        if (failed !== undefined) throw failed.error;
        blob.update(chunk);
        yield chunk;
      }
      pipe.close();
      await decoding;
    } finally {
      pipe.close();
      await reader.close();
    }
    const diffID = diff.digest();
    return {
      descriptor: descriptor(blob.digest(), blob.size, { [ANNOTATION_UNCOMPRESSED]: diffID }),
      diffID,
      uncompressedSize: diff.size,
      sourceDiffID: diffID,
    };
  }

  const sourceDiff = newDigester();
  async function* decoded(): AsyncGenerator<Uint8Array> {
    for await (const chunk of decompress(input, decodeOptions)) {
      sourceDiff.update(chunk);
      yield chunk;
    }
  }

  try {
    if (to === "estargz") {
      const written = writeEstargz(decoded(), {
        ...(options.level === undefined ? {} : { level: options.level }),
        ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
        ...(signal === undefined ? {} : { signal }),
      });
      written.result.catch(() => {});
      for await (const chunk of written.stream) {
        blob.update(chunk);
        yield chunk;
      }
      const r = await written.result;
      return {
        descriptor: descriptor(blob.digest(), blob.size, r.annotations),
        diffID: r.diffID,
        uncompressedSize: r.uncompressedSize,
        sourceDiffID: sourceDiff.digest(),
      };
    }
    const compressed = compress(decoded(), to, {
      ...(options.level === undefined ? {} : { level: options.level }),
      ...(options.parallel === undefined ? {} : { parallel: options.parallel }),
      ...(signal === undefined ? {} : { signal }),
    });
    for await (const chunk of compressed) {
      blob.update(chunk);
      yield chunk;
    }
    const diffID = sourceDiff.digest();
    return {
      descriptor: descriptor(blob.digest(), blob.size, { [ANNOTATION_UNCOMPRESSED]: diffID }),
      diffID,
      uncompressedSize: sourceDiff.size,
      sourceDiffID: diffID,
    };
  } finally {
    await reader.close();
  }
}
