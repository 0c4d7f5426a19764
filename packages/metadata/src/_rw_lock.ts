/**
 * An async reader/writer lock. Content mutations take it shared; GC backend
 * cleanup takes it exclusive, so no blob is committed to the backend while
 * GC decides which blobs nothing references. Waiting writers go first.
 */
export class RwLock {
  #readers = 0;
  #writer = false;
  #queue: { exclusive: boolean; resolve: () => void }[] = [];

  /** Waits for a shared hold; call the returned function to release it. */
  async shared(): Promise<() => void> {
    if (!this.#writer && this.#queue.length === 0) {
      this.#readers++;
    } else {
      await new Promise<void>((resolve) => this.#queue.push({ exclusive: false, resolve }));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#readers--;
      this.#drain();
    };
  }

  /** Waits for the exclusive hold; call the returned function to release it. */
  async exclusive(): Promise<() => void> {
    if (!this.#writer && this.#readers === 0 && this.#queue.length === 0) {
      this.#writer = true;
    } else {
      await new Promise<void>((resolve) => this.#queue.push({ exclusive: true, resolve }));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#writer = false;
      this.#drain();
    };
  }

  #drain(): void {
    while (this.#queue.length > 0 && !this.#writer) {
      const next = this.#queue[0] as { exclusive: boolean; resolve: () => void };
      if (next.exclusive) {
        if (this.#readers > 0) return;
        this.#queue.shift();
        this.#writer = true;
        next.resolve();
        return;
      }
      this.#queue.shift();
      this.#readers++;
      next.resolve();
    }
  }
}
