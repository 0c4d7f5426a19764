import zlib from "node:zlib";
import { InternalError, InvalidArgumentError } from "@strata/errdefs";
import { ByteReader, throwIfAborted } from "./_bytes.ts";
import { ANNOTATION_UNCOMPRESSED, type Digest, digestBytes, newDigester } from "./_oci.ts";
import {
  BLOCK,
  concat,
  headerNameOf,
  paddingOf,
  type TarHeader,
  TarReader,
  tarEnd,
  tarHeader,
} from "./_tar.ts";
import {
  ESTARGZ_DEFAULT_CHUNK_SIZE,
  ESTARGZ_TOC_DIGEST_ANNOTATION,
  ESTARGZ_TOC_NAME,
  ESTARGZ_UNCOMPRESSED_SIZE_ANNOTATION,
  type EstargzToc,
  type EstargzTocEntry,
  estargzFooter,
} from "./estargz_format.ts";

/** Options of {@link writeEstargz}. */
export interface WriteEstargzOptions {
  /** gzip level of every member, 0-9 (default 6). */
  level?: number;
  /** Large files are cut into gzip members of at most this many payload bytes (default 4 MiB). */
  chunkSize?: number;
  signal?: AbortSignal;
}

/** What {@link writeEstargz} reports once its stream has been read to the end. */
export interface EstargzResult {
  /** Digest of the TOC JSON: the `containerd.io/snapshot/stargz/toc.digest` annotation. */
  tocDigest: Digest;
  /** Offset of the TOC's gzip member in the blob. */
  tocOffset: number;
  /** Digest of the whole uncompressed stream (the input tar plus the TOC entry): the diffID. */
  diffID: Digest;
  /** Size of the whole uncompressed stream. */
  uncompressedSize: number;
  /** Digest of the blob written. */
  digest: Digest;
  /** Size of the blob written. */
  size: number;
  /**
   * The layer descriptor's annotations: TOC digest, uncompressed size
   * (`io.containers.estargz.uncompressed-size`) and `containerd.io/uncompressed`.
   */
  annotations: Record<string, string>;
}

/** A stream to read, and what it comes to once read to the end. */
export interface EstargzWrite {
  /** The eStargz blob. Read it once. */
  stream: AsyncIterable<Uint8Array>;
  /** Settles when `stream` has been read to the end (rejects if it failed). */
  result: Promise<EstargzResult>;
}

// Payload is handed to the gzip member in pieces of at most this size.
const PIECE = 128 * 1024;

// One gzip member, written through node:zlib. Writes are awaited one by one
// and the member is ended only after the last one, so its bytes never depend
// on timing; output is collected per write, so memory stays bounded.
class Member {
  #gz: zlib.Gzip;
  #out: Uint8Array[] = [];
  #error: Error | undefined;
  #ended: Promise<void>;

  constructor(level: number) {
    this.#gz = zlib.createGzip({ level });
    this.#gz.on("data", (chunk: Uint8Array) => this.#out.push(chunk));
    this.#ended = new Promise((resolve, reject) => {
      this.#gz.once("end", resolve);
      this.#gz.once("error", (err: Error) => {
        this.#error = err;
        reject(err);
      });
    });
    this.#ended.catch(() => {});
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#gz.write(bytes, (err) => (err == null ? resolve() : reject(err)));
    });
  }

  async end(): Promise<void> {
    this.#gz.end();
    await this.#ended;
  }

  take(): Uint8Array[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  destroy(): void {
    this.#gz.destroy();
  }
}

function modtime(seconds: number): string | undefined {
  if (seconds === 0) return undefined;
  const rounded = Math.round(seconds);
  return new Date(rounded * 1000).toISOString().replace(/\.\d{3}Z$/u, "Z");
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

function tocEntry(h: TarHeader): EstargzTocEntry {
  const type = h.type as EstargzTocEntry["type"];
  const e: EstargzTocEntry = { name: h.name, type };
  if (type === "reg" && h.size > 0) e.size = h.size;
  const mt = modtime(h.mtime);
  if (mt !== undefined) e.modtime = mt;
  if ((type === "symlink" || type === "hardlink") && h.linkname !== "") e.linkName = h.linkname;
  if (h.mode !== 0) e.mode = h.mode;
  if (h.uid !== 0) e.uid = h.uid;
  if (h.gid !== 0) e.gid = h.gid;
  if (h.uname !== "") e.userName = h.uname;
  if (h.gname !== "") e.groupName = h.gname;
  if (type === "char" || type === "block") {
    e.devMajor = h.devmajor;
    e.devMinor = h.devminor;
  }
  const xattrs: Record<string, string> = {};
  let any = false;
  for (const [key, value] of h.pax) {
    if (!key.startsWith("SCHILY.xattr.")) continue;
    xattrs[key.slice("SCHILY.xattr.".length)] = Buffer.from(value).toString("base64");
    any = true;
  }
  if (any) e.xattrs = xattrs;
  return e;
}

/**
 * Converts an uncompressed layer tar into an eStargz blob, keeping every byte
 * of the tar (lossless, as BuildKit does): each regular file's payload starts
 * a gzip member, large payloads are cut into chunks, the TOC
 * (`stargz.index.json`) is the last tar entry in its own member, and the
 * 51-byte footer points at it. No prefetch landmark is added.
 *
 * The uncompressed stream of the result is the input tar followed by the TOC
 * entry and two zero blocks, so its diffID differs from the input's; the
 * result reports it.
 *
 * @throws {InvalidArgumentError} (from the stream) when the input is not a
 *   tar stream, already holds a `stargz.index.json`, or has an entry type
 *   eStargz cannot record (GNU sparse files); for a bad level or chunk size.
 * @throws the source's errors, and the signal's reason on abort.
 *
 * @example
 * ```ts
 * const { stream, result } = writeEstargz(fs.createReadStream("layer.tar"));
 * await pipeline(stream, fs.createWriteStream("layer.estargz"));
 * const { annotations } = await result; // goes on the layer descriptor
 * ```
 */
export function writeEstargz(
  source: AsyncIterable<Uint8Array>,
  options?: WriteEstargzOptions,
): EstargzWrite {
  const level = options?.level ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new InvalidArgumentError(
      `invalid estargz compression level ${level}: must be an integer from 0 to 9`,
    );
  }
  const chunkSize = options?.chunkSize ?? ESTARGZ_DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new InvalidArgumentError(
      `invalid estargz chunk size ${chunkSize}: must be a positive integer`,
    );
  }
  let settle!: { resolve: (r: EstargzResult) => void; reject: (e: unknown) => void };
  const result = new Promise<EstargzResult>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // A caller that only reads the stream sees its failure there.
  result.catch(() => {});
  const stream = (async function* (): AsyncGenerator<Uint8Array> {
    let done = false;
    try {
      const r = yield* write(source, level, chunkSize, options?.signal);
      done = true;
      settle.resolve(r);
    } catch (err) {
      settle.reject(err);
      throw err;
    } finally {
      if (!done) settle.reject(new InternalError("estargz stream was not read to the end"));
    }
  })();
  return { stream, result };
}

async function* write(
  source: AsyncIterable<Uint8Array>,
  level: number,
  chunkSize: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<Uint8Array, EstargzResult> {
  const blob = newDigester();
  const diff = newDigester();
  const entries: EstargzTocEntry[] = [];
  const reader = new ByteReader(source, signal);
  const tar = new TarReader(reader);
  let member: Member | undefined;

  function* emit(chunks: Uint8Array[]): Generator<Uint8Array> {
    for (const c of chunks) {
      blob.update(c);
      yield c;
    }
  }
  async function* put(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
    if (bytes.length === 0) return;
    member ??= new Member(level);
    diff.update(bytes);
    await member.write(bytes);
    yield* emit(member.take());
  }
  async function* close(): AsyncGenerator<Uint8Array> {
    if (member === undefined) return;
    const m = member;
    member = undefined;
    await m.end();
    yield* emit(m.take());
  }

  try {
    for (;;) {
      throwIfAborted(signal);
      const entry = await tar.next();
      if (entry === null) break;
      const h = entry.header;
      if (cleanName(h.name) === ESTARGZ_TOC_NAME) {
        throw alreadyEstargz();
      }
      for (const raw of entry.raw) yield* put(raw);
      if (h.type === "other") {
        for (let p = await tar.readPayload(PIECE); p !== null; p = await tar.readPayload(PIECE))
          yield* put(p);
        yield* put(await tar.readPadding());
        continue;
      }
      let ent = tocEntry(h);
      if (h.type === "reg" && h.size > 0) {
        const fileDigest = newDigester();
        const first = ent;
        for (let written = 0; written < h.size; ) {
          yield* close();
          const n = Math.min(chunkSize, h.size - written);
          ent.offset = blob.size;
          if (written > 0) ent.chunkOffset = written;
          if (written + n < h.size) ent.chunkSize = n;
          const chunkDigest = newDigester();
          for (let left = n; left > 0; ) {
            const piece = await tar.readPayload(Math.min(left, PIECE));
            if (piece === null)
              throw new InvalidArgumentError(`tar payload of "${h.name}" ended early`);
            left -= piece.length;
            chunkDigest.update(piece);
            fileDigest.update(piece);
            yield* put(piece);
          }
          ent.chunkDigest = chunkDigest.digest();
          entries.push(ent);
          written += n;
          ent = { name: h.name, type: "chunk" };
        }
        first.digest = fileDigest.digest();
      } else {
        if (h.type === "reg") ent.digest = newDigester().digest();
        entries.push(ent);
      }
      yield* put(await tar.readPadding());
    }
    // Lossless: the end-of-archive block and whatever follows it stay. An
    // eStargz tar stream holds its TOC entry after the input's end blocks,
    // so those bytes are checked for one.
    if (tar.endBlock !== undefined) yield* put(tar.endBlock);
    for (
      let block = await reader.readFull(BLOCK);
      block.length > 0;
      block = await reader.readFull(BLOCK)
    ) {
      if (
        headerNameOf(block) !== undefined &&
        cleanName(headerNameOf(block) ?? "") === ESTARGZ_TOC_NAME
      ) {
        throw alreadyEstargz();
      }
      yield* put(block);
    }
    yield* close();

    const tocOffset = blob.size;
    const toc: EstargzToc = { version: 1, entries };
    const json = new TextEncoder().encode(JSON.stringify(toc, null, "\t"));
    const tocDigest = digestBytes(json);
    const tocTar = concat([
      tarHeader({ name: ESTARGZ_TOC_NAME, typeflag: "0", size: json.length, mode: 0o644 }),
      json,
      new Uint8Array(paddingOf(json.length)),
      tarEnd(),
    ]);
    yield* put(tocTar);
    yield* close();
    yield* emit([estargzFooter(tocOffset)]);
    const diffID = diff.digest();
    return {
      tocDigest,
      tocOffset,
      diffID,
      uncompressedSize: diff.size,
      digest: blob.digest(),
      size: blob.size,
      annotations: {
        [ESTARGZ_TOC_DIGEST_ANNOTATION]: tocDigest,
        [ESTARGZ_UNCOMPRESSED_SIZE_ANNOTATION]: String(diff.size),
        [ANNOTATION_UNCOMPRESSED]: diffID,
      },
    };
  } catch (err) {
    if (signal?.aborted === true) throw signal.reason;
    if (isZlibError(err))
      throw new InternalError(`cannot write estargz: ${String(err)}`, { cause: err });
    throw err;
  } finally {
    member?.destroy();
    await reader.close();
  }
}

function alreadyEstargz(): InvalidArgumentError {
  return new InvalidArgumentError(
    `cannot convert to estargz: the tar already holds "${ESTARGZ_TOC_NAME}" (it is eStargz already)`,
  );
}

function isZlibError(err: unknown): boolean {
  return typeof err === "object" && err !== null && "errno" in err && "code" in err;
}
