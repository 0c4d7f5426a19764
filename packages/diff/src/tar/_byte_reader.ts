import { DataLossError } from "@strata/errdefs";

/**
 * Pulls exact byte counts out of an `AsyncIterable<Uint8Array>` without
 * copying chunks that are consumed whole.
 */
export class ByteReader {
  #iterator: AsyncIterator<Uint8Array>;
  #chunk: Uint8Array = new Uint8Array(0);
  #offset = 0;
  #done = false;
  /** Bytes handed out so far. */
  consumed = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    while (this.#offset >= this.#chunk.length) {
      if (this.#done) return false;
      const next = await this.#iterator.next();
      if (next.done) {
        this.#done = true;
        return false;
      }
      this.#chunk = next.value;
      this.#offset = 0;
    }
    return true;
  }

  /** Up to `max` bytes (at least one), or undefined at the end of input. */
  async readSome(max: number): Promise<Uint8Array | undefined> {
    if (!(await this.#fill())) return undefined;
    const n = Math.min(max, this.#chunk.length - this.#offset);
    const out = this.#chunk.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    this.consumed += n;
    return out;
  }

  /** Exactly `n` bytes, or fewer only at the end of input. */
  async readUpTo(n: number): Promise<Uint8Array> {
    const first = await this.readSome(n);
    if (!first) return new Uint8Array(0);
    if (first.length === n) return first;
    const out = new Uint8Array(n);
    out.set(first);
    let have = first.length;
    while (have < n) {
      const more = await this.readSome(n - have);
      if (!more) return out.subarray(0, have);
      out.set(more, have);
      have += more.length;
    }
    return out;
  }

  /** Exactly `n` bytes. @throws {DataLossError} naming `what` when the input ends first. */
  async readExact(n: number, what: string): Promise<Uint8Array> {
    const out = await this.readUpTo(n);
    if (out.length < n) {
      throw new DataLossError(
        `truncated tar archive: ${what} needs ${n} bytes, got ${out.length} at offset ${this.consumed}`,
      );
    }
    return out;
  }

  /** Discards exactly `n` bytes. @throws {DataLossError} when the input ends first. */
  async skip(n: number, what: string): Promise<void> {
    let left = n;
    while (left > 0) {
      const part = await this.readSome(left);
      if (!part) {
        throw new DataLossError(
          `truncated tar archive: ${what} needs ${n} bytes, got ${n - left} at offset ${this.consumed}`,
        );
      }
      left -= part.length;
    }
  }

  /** Discards up to `n` bytes; returns how many there were (fewer only at the end of input). */
  async skipUpTo(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      const part = await this.readSome(left);
      if (!part) break;
      left -= part.length;
    }
    return n - left;
  }

  /** Reads and discards everything left; returns how many bytes that was. */
  async drain(): Promise<number> {
    let n = 0;
    for (;;) {
      const part = await this.readSome(1 << 20);
      if (!part) return n;
      n += part.length;
    }
  }

  /** Ends the underlying iterator early. */
  async close(): Promise<void> {
    if (!this.#done) {
      this.#done = true;
      await this.#iterator.return?.();
    }
  }
}
