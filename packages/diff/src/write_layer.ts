import { randomBytes } from "node:crypto";
import { type Compression, compress, mediaTypeFor, writeEstargz } from "@strata/compression";
import type { Ingester, IngestManager } from "@strata/content";
import { isAlreadyExists } from "@strata/errdefs";
import { type Descriptor, type Digest, Digester, LABEL_UNCOMPRESSED } from "@strata/oci";

/** Options of {@link writeLayer}. */
export interface WriteLayerOptions {
  /** Compression of the blob (default "gzip", as containerd). */
  compression?: Compression;
  /** Compression level (see @strata/compression). */
  level?: number;
  /** Media type of the descriptor (default: the OCI layer type for the compression). */
  mediaType?: string;
  /** Ingest ref (default: "diff-<ms>-<random>"). */
  ref?: string;
  /** Extra labels to commit with the blob. */
  labels?: Record<string, string>;
  signal?: AbortSignal;
}

/** What {@link writeLayer} returns. */
export interface WriteLayerResult {
  /** The stored blob: media type, digest, size (eStargz: with its annotations). */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar. */
  diffID: Digest;
}

/**
 * Compresses a layer tar into a content store as it is read, computing the
 * diffID on the way, and commits it with the `containerd.io/uncompressed`
 * label. A blob that exists already counts as written. On failure an ingest
 * under a generated ref is aborted (when the ingester is also an
 * IngestManager); one under the caller's `ref` is kept, and truncated when
 * written to again.
 *
 * @throws {InvalidArgumentError} for a bad compression level.
 * @throws {UnavailableError} when another writer holds `ref`.
 * @example
 * ```ts
 * const { descriptor, diffID } = await writeLayer(store, diffDirectories(lower, upper), {
 *   compression: "zstd",
 * });
 * ```
 */
export async function writeLayer(
  ingester: Ingester,
  tar: AsyncIterable<Uint8Array>,
  options: WriteLayerOptions = {},
): Promise<WriteLayerResult> {
  const compression = options.compression ?? "gzip";
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const ref = options.ref ?? `diff-${Date.now()}-${randomBytes(3).toString("base64url")}`;
  const mediaType = options.mediaType ?? mediaTypeFor(compression);
  const diffDigester = new Digester();
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const chunk of tar) {
      diffDigester.update(chunk);
      yield chunk;
    }
  }
  const level = options.level === undefined ? {} : { level: options.level };
  let stream: AsyncIterable<Uint8Array>;
  let annotations: Record<string, string> | undefined;
  let estargzDiffID: Promise<Digest> | undefined;
  if (compression === "estargz") {
    // The eStargz diffID covers the TOC entry the writer appends, so it comes from the writer.
    const written = writeEstargz(hashed(), { ...level, ...signal });
    stream = written.stream;
    estargzDiffID = written.result.then((r) => {
      annotations = r.annotations;
      return r.diffID as Digest;
    });
  } else {
    stream = compress(hashed(), compression, { ...level, ...signal });
  }
  const writer = await ingester.writer({ ref, ...signal });
  let committed = false;
  try {
    if ((await writer.status()).offset > 0) await writer.truncate(0);
    for await (const chunk of stream) await writer.write(chunk, signal);
    const diffID = estargzDiffID ? await estargzDiffID : diffDigester.digest();
    const digest = writer.digest();
    const size = (await writer.status()).offset;
    try {
      await writer.commit(size, digest, {
        labels: { ...options.labels, [LABEL_UNCOMPRESSED]: diffID },
        ...signal,
      });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    committed = true;
    const descriptor: Descriptor = { mediaType, digest, size };
    if (annotations) descriptor.annotations = annotations;
    return { descriptor, diffID };
  } finally {
    await writer.close();
    // Like containerd: an ingest whose ref we made up is dropped on failure
    // (a caller's ref is kept for a retry), when the store can abort.
    const manager = ingester as Partial<IngestManager>;
    if (!committed && options.ref === undefined && typeof manager.abort === "function") {
      await manager.abort(ref).catch(() => {});
    }
  }
}
