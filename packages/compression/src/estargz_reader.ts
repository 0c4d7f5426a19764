import { DataLossError, InvalidArgumentError, NotFoundError } from "@strata/errdefs";
import { ByteReader, throwIfAborted } from "./_bytes.ts";
import { type Digest, digestBytes, newDigester, type ReaderAt } from "./_oci.ts";
import { concat, TarReader } from "./_tar.ts";
import { decompress } from "./decompress.ts";
import {
  ESTARGZ_FOOTER_SIZE,
  ESTARGZ_TOC_NAME,
  type EstargzToc,
  type EstargzTocEntry,
  parseEstargzFooter,
} from "./estargz_format.ts";

const READ_SIZE = 64 * 1024;
/** The default bound on the TOC JSON's size. */
export const ESTARGZ_DEFAULT_MAX_TOC_BYTES: number = 64 * 1024 * 1024;

/** Reads `[start, end)` of a ReaderAt as a stream. */
async function* readRange(
  r: ReaderAt,
  start: number,
  end: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array> {
  for (let at = start; at < end; ) {
    throwIfAborted(signal);
    const buf = new Uint8Array(Math.min(READ_SIZE, end - at));
    const n = await r.readAt(buf, at);
    if (n <= 0) throw new DataLossError(`blob ended at offset ${at}, expected ${end} bytes`);
    at += n;
    yield buf.subarray(0, n);
  }
}

async function readExact(
  r: ReaderAt,
  start: number,
  length: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of readRange(r, start, start + length, signal)) parts.push(p);
  return concat(parts);
}

/** Options of {@link isEstargz}. */
export interface IsEstargzOptions {
  signal?: AbortSignal;
}

/**
 * Whether a blob is eStargz: it ends with an eStargz footer pointing inside
 * the blob at the start of a gzip member. Reads 51 bytes plus 3. Opening it
 * with {@link openEstargz} checks the TOC itself.
 *
 * @example
 * ```ts
 * if (await isEstargz(readerAt)) annotations = (await openEstargz(readerAt)).annotations;
 * ```
 */
export async function isEstargz(readerAt: ReaderAt, options?: IsEstargzOptions): Promise<boolean> {
  if (readerAt.size < ESTARGZ_FOOTER_SIZE + 3) return false;
  const footerAt = readerAt.size - ESTARGZ_FOOTER_SIZE;
  let tocOffset: number;
  try {
    tocOffset = parseEstargzFooter(
      await readExact(readerAt, footerAt, ESTARGZ_FOOTER_SIZE, options?.signal),
    );
  } catch (err) {
    if (err instanceof InvalidArgumentError) return false;
    throw err;
  }
  if (tocOffset + 3 > footerAt) return false;
  const magic = await readExact(readerAt, tocOffset, 3, options?.signal);
  return magic[0] === 0x1f && magic[1] === 0x8b && magic[2] === 0x08;
}

/** Options of {@link openEstargz}. */
export interface OpenEstargzOptions {
  /**
   * The TOC digest the layer descriptor announces
   * (`containerd.io/snapshot/stargz/toc.digest`). When given, a TOC that does
   * not match is refused; without it the TOC is trusted as found.
   */
  tocDigest?: string;
  /** Refuse a TOC JSON larger than this (default 64 MiB). */
  maxTocBytes?: number;
  signal?: AbortSignal;
}

/** Options of {@link EstargzReader.openFile}. */
export interface OpenFileOptions {
  signal?: AbortSignal;
}

function cleanName(name: string): string {
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

/**
 * An opened eStargz blob: its TOC, and each file's content read on its own
 * through the `ReaderAt` (only that file's gzip members are read). The reader
 * does not own the `ReaderAt`: close it yourself when done.
 */
export class EstargzReader {
  #r: ReaderAt;
  #toc: EstargzToc;
  #tocDigest: Digest;
  #tocOffset: number;
  #byName = new Map<string, EstargzTocEntry>();
  #chunks = new Map<string, EstargzTocEntry[]>();
  #next = new Map<EstargzTocEntry, number>();

  /** Use {@link openEstargz}. */
  constructor(readerAt: ReaderAt, toc: EstargzToc, tocDigest: Digest, tocOffset: number) {
    this.#r = readerAt;
    this.#toc = toc;
    this.#tocDigest = tocDigest;
    this.#tocOffset = tocOffset;
    let previous: EstargzTocEntry | undefined;
    for (const e of toc.entries) {
      const name = cleanName(e.name);
      if (e.type === "chunk") {
        const list = this.#chunks.get(name);
        if (list === undefined) {
          throw new DataLossError(
            `corrupt eStargz TOC: chunk of "${e.name}" before its file entry`,
          );
        }
        list.push(e);
      } else {
        this.#byName.set(name, e);
        if (e.type === "reg") this.#chunks.set(name, [e]);
      }
      if (e.offset !== undefined) {
        if (previous !== undefined) this.#next.set(previous, e.offset);
        previous = e;
      }
    }
    if (previous !== undefined) this.#next.set(previous, tocOffset);
  }

  /** The TOC. */
  get toc(): EstargzToc {
    return this.#toc;
  }

  /** The digest of the TOC JSON as read. */
  get tocDigest(): Digest {
    return this.#tocDigest;
  }

  /** Offset of the TOC's gzip member. */
  get tocOffset(): number {
    return this.#tocOffset;
  }

  /** The TOC entry of a path (leading "/" or "./" and trailing "/" do not matter), or undefined. */
  lookup(name: string): EstargzTocEntry | undefined {
    return this.#byName.get(cleanName(name));
  }

  /**
   * The content of one regular file (hard links are followed), read chunk by
   * chunk from its gzip members and checked against each chunk's digest.
   *
   * @throws {NotFoundError} when there is no such entry.
   * @throws {InvalidArgumentError} when it is not a regular file.
   * @throws {DataLossError} when a chunk does not match its digest or its
   *   member is damaged.
   */
  async *openFile(name: string, options?: OpenFileOptions): AsyncGenerator<Uint8Array> {
    const signal = options?.signal;
    let entry = this.lookup(name);
    for (let hops = 0; entry?.type === "hardlink" && hops < 32; hops++) {
      entry = this.lookup(entry.linkName ?? "");
    }
    if (entry === undefined) throw new NotFoundError(`eStargz entry "${name}": not found`);
    if (entry.type !== "reg") {
      throw new InvalidArgumentError(
        `eStargz entry "${name}" is a ${entry.type}, not a regular file`,
      );
    }
    const size = entry.size ?? 0;
    if (size === 0) return;
    const chunks = this.#chunks.get(cleanName(entry.name)) ?? [entry];
    const whole = newDigester();
    for (const chunk of chunks) {
      const chunkOffset = chunk.chunkOffset ?? 0;
      const length =
        chunk.chunkSize !== undefined && chunk.chunkSize > 0 ? chunk.chunkSize : size - chunkOffset;
      const start = chunk.offset;
      const end = this.#next.get(chunk);
      if (start === undefined || end === undefined || end <= start || end > this.#tocOffset) {
        throw new DataLossError(`corrupt eStargz TOC: bad offset for a chunk of "${name}"`);
      }
      const digester = newDigester();
      let left = length;
      const reader = new ByteReader(
        decompress(readRange(this.#r, start, end, signal), signal === undefined ? {} : { signal }),
        signal,
      );
      try {
        while (left > 0) {
          const piece = await reader.read(left);
          if (piece === null) {
            throw new DataLossError(
              `eStargz chunk of "${name}" at offset ${start} is ${length - left} bytes, expected ${length}`,
            );
          }
          left -= piece.length;
          digester.update(piece);
          whole.update(piece);
          yield piece;
        }
      } finally {
        await reader.close();
      }
      if (chunk.chunkDigest !== undefined && digester.digest() !== chunk.chunkDigest) {
        throw new DataLossError(
          `eStargz chunk of "${name}" at offset ${start}: digest ${digester.digest()}, TOC says ${chunk.chunkDigest}`,
        );
      }
    }
    if (entry.digest !== undefined && whole.digest() !== entry.digest) {
      throw new DataLossError(
        `eStargz file "${name}": digest ${whole.digest()}, TOC says ${entry.digest}`,
      );
    }
  }
}

function checkToc(value: unknown): EstargzToc {
  const v = value as { version?: unknown; entries?: unknown } | null;
  if (typeof v !== "object" || v === null || v.version !== 1 || !Array.isArray(v.entries)) {
    throw new DataLossError("corrupt eStargz TOC: not a version 1 TOC with entries");
  }
  for (const e of v.entries as unknown[]) {
    const entry = e as { name?: unknown; type?: unknown; offset?: unknown } | null;
    if (
      typeof entry !== "object" ||
      entry === null ||
      typeof entry.name !== "string" ||
      typeof entry.type !== "string"
    ) {
      throw new DataLossError("corrupt eStargz TOC: an entry has no name or type");
    }
    if (
      entry.offset !== undefined &&
      (typeof entry.offset !== "number" || !Number.isSafeInteger(entry.offset) || entry.offset < 0)
    ) {
      throw new DataLossError(`corrupt eStargz TOC: entry "${entry.name}" has a bad offset`);
    }
  }
  return v as EstargzToc;
}

/**
 * Opens an eStargz blob: parses the footer, reads and checks the TOC (its
 * digest against `tocDigest` when given). Reads only the footer and the TOC.
 *
 * @throws {InvalidArgumentError} when the blob has no eStargz footer.
 * @throws {DataLossError} when the TOC is damaged, is not the last entry, or
 *   does not match `tocDigest` (tampering).
 * @throws {ResourceExhaustedError} when the TOC is larger than `maxTocBytes`.
 *
 * @example
 * ```ts
 * const stargz = await openEstargz(readerAt, { tocDigest: desc.annotations[ESTARGZ_TOC_DIGEST_ANNOTATION] });
 * for await (const chunk of stargz.openFile("bin/busybox")) out.write(chunk);
 * ```
 */
export async function openEstargz(
  readerAt: ReaderAt,
  options?: OpenEstargzOptions,
): Promise<EstargzReader> {
  const signal = options?.signal;
  const maxToc = options?.maxTocBytes ?? ESTARGZ_DEFAULT_MAX_TOC_BYTES;
  if (readerAt.size < ESTARGZ_FOOTER_SIZE) {
    throw new InvalidArgumentError(
      `not an eStargz blob: ${readerAt.size} bytes is shorter than the ${ESTARGZ_FOOTER_SIZE}-byte footer`,
    );
  }
  const footerAt = readerAt.size - ESTARGZ_FOOTER_SIZE;
  const tocOffset = parseEstargzFooter(
    await readExact(readerAt, footerAt, ESTARGZ_FOOTER_SIZE, signal),
  );
  if (tocOffset >= footerAt) {
    throw new DataLossError(
      `corrupt eStargz blob: TOC offset ${tocOffset} is past the footer at ${footerAt}`,
    );
  }
  // The TOC member holds a tar header, the JSON, padding and the end blocks.
  const decoded = decompress(readRange(readerAt, tocOffset, footerAt, signal), {
    maxBytes: maxToc + 4096,
    ...(signal === undefined ? {} : { signal }),
  });
  const tar = new TarReader(new ByteReader(decoded, signal));
  let json: Uint8Array;
  try {
    const entry = await tar.next();
    if (
      entry === null ||
      cleanName(entry.header.name) !== ESTARGZ_TOC_NAME ||
      entry.header.type !== "reg"
    ) {
      throw new DataLossError(
        `corrupt eStargz blob: no "${ESTARGZ_TOC_NAME}" entry at the TOC offset ${tocOffset}`,
      );
    }
    const parts: Uint8Array[] = [];
    for (let p = await tar.readPayload(1 << 20); p !== null; p = await tar.readPayload(1 << 20))
      parts.push(p);
    json = concat(parts);
    await tar.readPadding();
    if ((await tar.next()) !== null) {
      throw new DataLossError(`corrupt eStargz blob: "${ESTARGZ_TOC_NAME}" is not the last entry`);
    }
  } catch (err) {
    if (err instanceof InvalidArgumentError) {
      throw new DataLossError(`corrupt eStargz TOC at offset ${tocOffset}: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  } finally {
    await tar.reader.close();
  }
  const tocDigest = digestBytes(json);
  if (options?.tocDigest !== undefined && options.tocDigest !== tocDigest) {
    throw new DataLossError(
      `eStargz TOC digest mismatch: expected ${options.tocDigest}, got ${tocDigest}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(json));
  } catch (err) {
    throw new DataLossError(`corrupt eStargz TOC: invalid JSON (${String(err)})`, { cause: err });
  }
  return new EstargzReader(readerAt, checkToc(parsed), tocDigest, tocOffset);
}
