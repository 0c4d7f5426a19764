/**
 * Small helpers over byte streams (`AsyncIterable<Uint8Array>`), private to
 * this package.
 *
 * @module
 */

const EMPTY = new Uint8Array(0);

/** Throws the signal's reason when it is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw signal.reason;
}

/**
 * Pulls bytes from a stream in the sizes the caller asks for: a parser's view
 * of an `AsyncIterable<Uint8Array>`. Holds at most one source chunk (plus one
 * copy when a read spans chunks).
 */
export class ByteReader {
  #it: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = EMPTY;
  #eof = false;
  #position = 0;
  #signal: AbortSignal | undefined;

  constructor(source: AsyncIterable<Uint8Array>, signal?: AbortSignal) {
    this.#it = source[Symbol.asyncIterator]();
    this.#signal = signal;
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.#position;
  }

  // Makes #buf non-empty; false at the end of the source.
  async #fill(): Promise<boolean> {
    while (this.#buf.length === 0) {
      if (this.#eof) return false;
      throwIfAborted(this.#signal);
      const next = await this.#it.next();
      if (next.done === true) {
        this.#eof = true;
        return false;
      }
      this.#buf = next.value;
    }
    return true;
  }

  /** Up to `max` bytes (at least one), or `null` at the end of the source. */
  async read(max: number = Number.POSITIVE_INFINITY): Promise<Uint8Array | null> {
    if (!(await this.#fill())) return null;
    const n = Math.min(max, this.#buf.length);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.#position += n;
    return out;
  }

  /** Exactly `n` bytes, or fewer only when the source ends first. */
  async readFull(n: number): Promise<Uint8Array> {
    if (!(await this.#fill())) return EMPTY;
    if (this.#buf.length >= n) return (await this.read(n)) ?? EMPTY;
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const piece = await this.read(n - got);
      if (piece === null) return out.subarray(0, got);
      out.set(piece, got);
      got += piece.length;
    }
    return out;
  }

  /** Consumes `n` bytes; returns how many were skipped (fewer at the end). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const piece = await this.read(left);
      if (piece === null) break;
      left -= piece.length;
    }
    return n - left;
  }

  /** Whether the source has no more bytes. */
  async atEnd(): Promise<boolean> {
    return !(await this.#fill());
  }

  /** Everything not read yet, as a stream. */
  async *rest(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const piece = await this.read();
      if (piece === null) return;
      yield piece;
    }
  }

  /** Stops the source early (calls its iterator's `return`). */
  async close(): Promise<void> {
    if (this.#eof) return;
    this.#eof = true;
    this.#buf = EMPTY;
    await this.#it.return?.();
  }
}

/**
 * Re-cuts a stream into blocks of exactly `size` bytes (the last one may be
 * shorter), so that what follows sees the same writes whatever the source's
 * chunking.
 */
export async function* rechunk(
  source: AsyncIterable<Uint8Array>,
  size: number,
): AsyncGenerator<Uint8Array> {
  let block = new Uint8Array(size);
  let filled = 0;
  for await (const chunk of source) {
    let at = 0;
    while (at < chunk.length) {
      if (filled === 0 && chunk.length - at >= size) {
        // A whole block straight from the source: copy it, since the caller
        // may keep it while the source reuses its buffer.
        yield chunk.slice(at, at + size);
        at += size;
        continue;
      }
      const n = Math.min(size - filled, chunk.length - at);
      block.set(chunk.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === size) {
        yield block;
        block = new Uint8Array(size);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield block.subarray(0, filled);
}

/** A stream of the given byte arrays. */
export async function* fromChunks(...chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

/** A stream of `head` followed by the rest of `it`. */
export async function* prepend(
  head: Uint8Array,
  rest: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  if (head.length > 0) yield head;
  yield* rest;
}
