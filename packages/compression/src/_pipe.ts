/**
 * A one-slot pipe: the producer's `push` waits until the consumer has taken
 * the chunk, so a side consumer (a decoder hashing the diffID of bytes that
 * pass through unchanged) never makes memory grow.
 *
 * @module
 */
export class Pipe implements AsyncIterable<Uint8Array> {
  #items: Uint8Array[] = [];
  #closed = false;
  #readerGone = false;
  #wakeReader: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;

  /** Hands a chunk over; resolves once it is taken (or the consumer has gone). */
  async push(chunk: Uint8Array): Promise<void> {
    if (this.#readerGone) return;
    this.#items.push(chunk);
    this.#wake("reader");
    while (this.#items.length > 0 && !this.#readerGone) {
      await new Promise<void>((resolve) => {
        this.#wakeWriter = resolve;
      });
    }
  }

  /** Ends the stream the consumer sees. */
  close(): void {
    this.#closed = true;
    this.#wake("reader");
  }

  #wake(who: "reader" | "writer"): void {
    const wake = who === "reader" ? this.#wakeReader : this.#wakeWriter;
    if (who === "reader") this.#wakeReader = undefined;
    else this.#wakeWriter = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        const item = this.#items.shift();
        if (item !== undefined) {
          yield item;
          this.#wake("writer");
          continue;
        }
        if (this.#closed) return;
        await new Promise<void>((resolve) => {
          this.#wakeReader = resolve;
        });
      }
    } finally {
      this.#readerGone = true;
      this.#items = [];
      this.#wake("writer");
    }
  }
}
