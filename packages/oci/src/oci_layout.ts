import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import {
  DataLossError,
  FailedPreconditionError,
  fromSystemError,
  InvalidArgumentError,
  isNotFound,
  NotFoundError,
} from "@strata/errdefs";
import { ANNOTATION_REF_NAME, type Descriptor, validateDescriptor } from "./descriptor.ts";
import {
  type Algorithm,
  CANONICAL_ALGORITHM,
  type Digest,
  Digester,
  parseDigest,
} from "./digest.ts";
import { parseJsonDocument } from "./json.ts";
import { type ImageIndex, validateIndex } from "./manifest.ts";
import { MediaType } from "./media_types.ts";
import { fileReaderAt, type ReaderAt } from "./reader_at.ts";

/** The file name of the layout marker. */
export const OCI_LAYOUT_FILE = "oci-layout";
/** The layout version this package writes and reads. */
export const OCI_LAYOUT_VERSION = "1.0.0";

const INDEX_FILE = "index.json";

// Tag grammar of org.opencontainers.image.ref.name (image-spec annotations.md).
const COMPONENT = "[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*";
const REF_NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

/** Options of every asynchronous {@link OciLayout} operation. */
export interface LayoutOptions {
  signal?: AbortSignal;
}

function validateTag(tag: string): void {
  if (typeof tag !== "string" || !REF_NAME.test(tag)) {
    throw new InvalidArgumentError(
      `invalid tag ${JSON.stringify(tag)}: must be alphanumeric components joined by one of -._:@+ or --, separated by /`,
    );
  }
}

function tempName(base: string): string {
  return `.${base}.tmp-${randomBytes(8).toString("hex")}`;
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `data` to `file` atomically: temp file in the same directory, fsync, rename. */
async function writeFileAtomic(file: string, data: string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, tempName(path.basename(file)));
  const handle = await fs.open(tmp, "wx", 0o644);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

/**
 * An OCI image layout directory: `oci-layout`, `index.json` and
 * `blobs/<alg>/<hex>`. Blobs are written through a temp file in their
 * directory, verified, fsynced and renamed, so a reader never sees a partial
 * blob; `index.json` is replaced the same way.
 *
 * Updates of `index.json` are serialised within one `OciLayout` object; two
 * processes (or two objects) tagging the same layout at once can lose an
 * update, as there is no cross-process lock.
 *
 * @example
 * ```ts
 * const layout = await OciLayout.create("/tmp/image");
 * const desc = await layout.putBlob(manifestChunks);
 * await layout.tag("latest", { mediaType: MediaType.OCI_MANIFEST, ...desc });
 * const resolved = await layout.resolve("latest");
 * for await (const chunk of layout.readBlobStream(resolved.digest)) process.stdout.write(chunk);
 * ```
 */
export class OciLayout {
  #root: string;
  #indexQueue: Promise<unknown> = Promise.resolve();

  private constructor(root: string) {
    this.#root = root;
  }

  /** The layout's directory. */
  get root(): string {
    return this.#root;
  }

  /**
   * Opens an existing layout.
   *
   * @throws {NotFoundError} when `oci-layout` or `index.json` is missing.
   * @throws {FailedPreconditionError} when the layout version is not 1.0.0.
   * @throws {InvalidArgumentError} when `oci-layout` is malformed.
   */
  static async open(dir: string, options?: LayoutOptions): Promise<OciLayout> {
    const root = path.resolve(dir);
    options?.signal?.throwIfAborted();
    await readLayoutFile(root);
    try {
      await fs.access(path.join(root, INDEX_FILE));
    } catch (err) {
      throw fromSystemError(err, `cannot open OCI layout ${root}: ${INDEX_FILE}`);
    }
    return new OciLayout(root);
  }

  /**
   * Creates a layout (directories, `oci-layout`, an empty `index.json`), or
   * opens the one already at `dir`.
   *
   * @throws {FailedPreconditionError} when an existing layout has another version.
   */
  static async create(dir: string, options?: LayoutOptions): Promise<OciLayout> {
    const root = path.resolve(dir);
    const what = `cannot create OCI layout ${root}`;
    options?.signal?.throwIfAborted();
    try {
      await fs.mkdir(path.join(root, "blobs", CANONICAL_ALGORITHM), { recursive: true });
    } catch (err) {
      throw fromSystemError(err, what);
    }
    try {
      await readLayoutFile(root);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await writeFileAtomic(
        path.join(root, OCI_LAYOUT_FILE),
        JSON.stringify({ imageLayoutVersion: OCI_LAYOUT_VERSION }),
      ).catch((e: unknown) => {
        throw fromSystemError(e, what);
      });
    }
    const layout = new OciLayout(root);
    await layout.#withIndex(async () => {
      try {
        await fs.access(path.join(root, INDEX_FILE));
      } catch {
        await layout.#writeIndex({
          schemaVersion: 2,
          mediaType: MediaType.OCI_INDEX,
          manifests: [],
        });
      }
    });
    return layout;
  }

  /** The path of a blob in this layout (whether or not it exists). */
  blobPath(digest: Digest): string {
    const { algorithm, encoded } = parseDigest(digest);
    return path.join(this.#root, "blobs", algorithm, encoded);
  }

  /**
   * Writes a blob from a stream: into a temp file beside its final place,
   * verified against `expected` when given, fsynced, then renamed. When
   * `expected` names a blob already present with the right size, `source` is
   * not read.
   *
   * @throws {DataLossError} when the bytes do not match `expected` (the temp file is removed).
   * @throws {InvalidArgumentError} when `expected.digest` is malformed.
   * @throws the signal's reason (an `AbortError`) when `options.signal` aborts.
   */
  async putBlob(
    source: AsyncIterable<Uint8Array>,
    expected?: { digest: Digest; size?: number },
    options?: LayoutOptions & { algorithm?: Algorithm },
  ): Promise<{ digest: Digest; size: number }> {
    const signal = options?.signal;
    const algorithm = expected
      ? parseDigest(expected.digest).algorithm
      : (options?.algorithm ?? CANONICAL_ALGORITHM);
    const what = `cannot write blob ${expected?.digest ?? "to OCI layout"}`;
    if (
      expected?.size !== undefined &&
      (!Number.isSafeInteger(expected.size) || expected.size < 0)
    ) {
      throw new InvalidArgumentError(
        `${what}: expected size must be a non-negative integer, got ${expected.size}`,
      );
    }
    signal?.throwIfAborted();
    if (expected) {
      const existing = await this.#statBlob(expected.digest);
      if (existing !== undefined && (expected.size === undefined || existing === expected.size)) {
        return { digest: expected.digest, size: existing };
      }
    }
    const dir = path.join(this.#root, "blobs", algorithm);
    const tmp = path.join(dir, tempName("blob"));
    const digester = new Digester(algorithm);
    let handle: fs.FileHandle | undefined;
    try {
      await fs.mkdir(dir, { recursive: true });
      handle = await fs.open(tmp, "wx", 0o644);
      for await (const chunk of source) {
        signal?.throwIfAborted();
        digester.update(chunk);
        if (expected?.size !== undefined && digester.size > expected.size) {
          throw new DataLossError(
            `${what}: expected size ${expected.size}, got more (${digester.size} so far)`,
          );
        }
        let written = 0;
        while (written < chunk.byteLength) {
          const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
          written += bytesWritten;
        }
      }
      signal?.throwIfAborted();
      const digest = digester.digest();
      if (expected) {
        if (expected.size !== undefined && digester.size !== expected.size) {
          throw new DataLossError(`${what}: expected size ${expected.size}, got ${digester.size}`);
        }
        if (digest !== expected.digest) {
          throw new DataLossError(
            `${what}: digest mismatch, got ${digest} (${digester.size} bytes)`,
          );
        }
      }
      await handle.sync();
      await handle.close();
      handle = undefined;
      await fs.rename(tmp, path.join(dir, parseDigest(digest).encoded));
      await fsyncDir(dir);
      return { digest, size: digester.size };
    } catch (err) {
      await handle?.close().catch(() => {});
      await fs.rm(tmp, { force: true }).catch(() => {});
      if (signal?.aborted && err === signal.reason) throw err;
      throw fromSystemError(err, what);
    }
  }

  /**
   * The size of a blob.
   *
   * @throws {NotFoundError} when the blob is not in the layout.
   */
  async statBlob(
    digest: Digest,
    options?: LayoutOptions,
  ): Promise<{ digest: Digest; size: number }> {
    options?.signal?.throwIfAborted();
    const size = await this.#statBlob(digest);
    if (size === undefined) throw new NotFoundError(`blob ${digest}: not found in ${this.#root}`);
    return { digest, size };
  }

  /** Whether the layout holds the blob. */
  async hasBlob(digest: Digest, options?: LayoutOptions): Promise<boolean> {
    options?.signal?.throwIfAborted();
    return (await this.#statBlob(digest)) !== undefined;
  }

  async #statBlob(digest: Digest): Promise<number | undefined> {
    const file = this.blobPath(digest);
    try {
      const st = await fs.stat(file);
      return st.isFile() ? st.size : undefined;
    } catch (err) {
      const mapped = fromSystemError(err, `cannot stat blob ${digest}`);
      if (isNotFound(mapped)) return undefined;
      throw mapped;
    }
  }

  /**
   * Opens a blob for random access; close the reader when done.
   *
   * @throws {NotFoundError} when the blob is not in the layout.
   */
  async openBlob(digest: Digest, options?: LayoutOptions): Promise<ReaderAt> {
    const what = `cannot open blob ${digest}`;
    options?.signal?.throwIfAborted();
    const file = this.blobPath(digest);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, "r");
    } catch (err) {
      throw fromSystemError(err, what);
    }
    try {
      const st = await handle.stat();
      return fileReaderAt(handle, st.size, `blob ${digest}`);
    } catch (err) {
      await handle.close();
      throw fromSystemError(err, what);
    }
  }

  /**
   * Reads a blob as a stream, from `options.offset` (default 0). With
   * `options.verify`, the whole blob is checked against its digest and a
   * mismatch fails the stream at its end with DataLossError.
   *
   * @throws {NotFoundError} (on iteration) when the blob is not in the layout.
   */
  readBlobStream(
    digest: Digest,
    options?: LayoutOptions & { offset?: number; verify?: boolean },
  ): AsyncIterable<Uint8Array> {
    const file = this.blobPath(digest);
    const offset = options?.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(`cannot read blob ${digest}: invalid offset ${offset}`);
    }
    if (options?.verify === true && offset !== 0) {
      throw new InvalidArgumentError(`cannot read blob ${digest}: verify needs offset 0`);
    }
    const signal = options?.signal;
    const verify = options?.verify === true;
    const algorithm = parseDigest(digest).algorithm;
    return {
      async *[Symbol.asyncIterator]() {
        const what = `cannot read blob ${digest}`;
        signal?.throwIfAborted();
        const digester = verify ? new Digester(algorithm) : undefined;
        const stream = createReadStream(file, {
          start: offset,
          highWaterMark: 64 * 1024,
          ...(signal ? { signal } : {}),
        });
        try {
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            const bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
            digester?.update(bytes);
            yield bytes;
          }
        } catch (err) {
          signal?.throwIfAborted();
          throw fromSystemError(err, what);
        } finally {
          stream.destroy();
        }
        if (digester && digester.digest() !== digest) {
          throw new DataLossError(`${what}: stored blob has digest ${digester.digest()}`);
        }
      },
    };
  }

  /**
   * The layout's `index.json`.
   *
   * @throws {InvalidArgumentError} when it is malformed.
   */
  async index(options?: LayoutOptions): Promise<ImageIndex> {
    options?.signal?.throwIfAborted();
    return this.#readIndex();
  }

  /** Every descriptor of `index.json`, tagged or not. */
  async list(options?: LayoutOptions): Promise<Descriptor[]> {
    return (await this.index(options)).manifests;
  }

  /**
   * The descriptor tagged `tag` in `index.json`.
   *
   * @throws {NotFoundError} when no entry has that tag.
   */
  async resolve(tag: string, options?: LayoutOptions): Promise<Descriptor> {
    validateTag(tag);
    const index = await this.index(options);
    const found = index.manifests.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === tag);
    if (!found) throw new NotFoundError(`tag ${JSON.stringify(tag)}: not found in ${this.#root}`);
    return found;
  }

  /**
   * Points `tag` at `desc` in `index.json`, replacing any older entry of the
   * same tag. The blob need not be present (the layout may be filled later).
   *
   * @throws {InvalidArgumentError} on a malformed tag or descriptor.
   */
  async tag(tag: string, desc: Descriptor, options?: LayoutOptions): Promise<Descriptor> {
    validateTag(tag);
    const clean = validateDescriptor(desc, "descriptor");
    const entry: Descriptor = {
      ...clean,
      annotations: { ...clean.annotations, [ANNOTATION_REF_NAME]: tag },
    };
    options?.signal?.throwIfAborted();
    await this.#withIndex(async () => {
      const index = await this.#readIndex();
      index.manifests = index.manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] !== tag);
      index.manifests.push(entry);
      await this.#writeIndex(index);
    });
    return entry;
  }

  /**
   * Removes the entry tagged `tag` from `index.json` (the blobs stay).
   *
   * @throws {NotFoundError} when no entry has that tag.
   */
  async untag(tag: string, options?: LayoutOptions): Promise<void> {
    validateTag(tag);
    options?.signal?.throwIfAborted();
    await this.#withIndex(async () => {
      const index = await this.#readIndex();
      const kept = index.manifests.filter((d) => d.annotations?.[ANNOTATION_REF_NAME] !== tag);
      if (kept.length === index.manifests.length) {
        throw new NotFoundError(`tag ${JSON.stringify(tag)}: not found in ${this.#root}`);
      }
      index.manifests = kept;
      await this.#writeIndex(index);
    });
  }

  #withIndex<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#indexQueue.then(fn, fn);
    this.#indexQueue = run.catch(() => {});
    return run;
  }

  async #readIndex(): Promise<ImageIndex> {
    const file = path.join(this.#root, INDEX_FILE);
    let bytes: Uint8Array;
    try {
      bytes = await fs.readFile(file);
    } catch (err) {
      throw fromSystemError(err, `cannot read ${file}`);
    }
    return validateIndex(parseJsonDocument(bytes, file), INDEX_FILE);
  }

  async #writeIndex(index: ImageIndex): Promise<void> {
    const file = path.join(this.#root, INDEX_FILE);
    try {
      await writeFileAtomic(file, JSON.stringify(index));
    } catch (err) {
      throw fromSystemError(err, `cannot write ${file}`);
    }
  }
}

async function readLayoutFile(root: string): Promise<void> {
  const file = path.join(root, OCI_LAYOUT_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    throw fromSystemError(err, `cannot open OCI layout ${root}: ${OCI_LAYOUT_FILE}`);
  }
  const value = parseJsonDocument(bytes, file, { maxBytes: 64 * 1024 });
  const version =
    typeof value === "object" && value !== null
      ? (value as { imageLayoutVersion?: unknown }).imageLayoutVersion
      : undefined;
  if (typeof version !== "string") {
    throw new InvalidArgumentError(`${file}: imageLayoutVersion must be a string`);
  }
  if (version !== OCI_LAYOUT_VERSION) {
    throw new FailedPreconditionError(
      `${file}: unsupported imageLayoutVersion ${JSON.stringify(version)} (want ${OCI_LAYOUT_VERSION})`,
    );
  }
}
