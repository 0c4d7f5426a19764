import type { Provider, ReaderAt } from "@strata/content";
import { DataLossError, InvalidArgumentError, NotFoundError } from "@strata/errdefs";
import type { Digest } from "@strata/oci";
import type { Repository } from "@strata/registry";

/**
 * A provider over a registry repository whose readers serve sequential
 * reads from one streamed GET (verified against the digest when read from
 * byte 0 to the end), opening a new ranged GET only when a read jumps. The
 * cache manager reads a lazy blob front to back when it fetches it, so a
 * layer costs one request instead of one per read-ahead window.
 */
export class RegistryStreamProvider implements Provider {
  readonly #repo: Repository;

  constructor(repo: Repository) {
    this.#repo = repo;
  }

  async readerAt(
    desc: { digest: Digest; size?: number },
    options: { signal?: AbortSignal } = {},
  ): Promise<ReaderAt> {
    let size = desc.size;
    if (size === undefined || size <= 0) {
      const stat = await this.#repo.statBlob(desc.digest, options);
      if (stat === undefined) {
        throw new NotFoundError(
          `blob ${desc.digest} not found in ${this.#repo.registry}/${this.#repo.name}`,
        );
      }
      size = stat.size;
    }
    return new StreamReaderAt(this.#repo, desc.digest, size);
  }
}

class StreamReaderAt implements ReaderAt {
  readonly size: number;
  readonly #repo: Repository;
  readonly #digest: Digest;
  #iter: AsyncIterator<Uint8Array> | undefined;
  #pos = 0;
  #left: Uint8Array | undefined;
  #closed = false;

  constructor(repo: Repository, digest: Digest, size: number) {
    this.#repo = repo;
    this.#digest = digest;
    this.size = size;
  }

  async readAt(buffer: Uint8Array, offset: number): Promise<number> {
    if (this.#closed) throw new InvalidArgumentError(`reader of blob ${this.#digest} is closed`);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(`cannot read blob ${this.#digest} at offset ${offset}`);
    }
    if (offset >= this.size || buffer.byteLength === 0) return 0;
    if (this.#iter === undefined || offset !== this.#pos) await this.#restart(offset);
    const want = Math.min(buffer.byteLength, this.size - offset);
    let at = 0;
    while (at < want) {
      let chunk = this.#left;
      this.#left = undefined;
      if (chunk === undefined) {
        const next = await (this.#iter as AsyncIterator<Uint8Array>).next();
        if (next.done === true) {
          throw new DataLossError(
            `blob ${this.#digest}: stream ended at byte ${this.#pos} of ${this.size}`,
          );
        }
        chunk = next.value;
      }
      const n = Math.min(chunk.byteLength, want - at);
      buffer.set(chunk.subarray(0, n), at);
      if (n < chunk.byteLength) this.#left = chunk.subarray(n);
      at += n;
      this.#pos += n;
    }
    // At the end of a stream from byte 0, let the verifying stream check the
    // digest now rather than never.
    if (this.#pos === this.size && this.#left === undefined) {
      const last = await (this.#iter as AsyncIterator<Uint8Array>).next();
      if (last.done !== true) {
        throw new DataLossError(`blob ${this.#digest}: more bytes than its size ${this.size}`);
      }
      this.#iter = undefined;
    }
    return want;
  }

  async #restart(offset: number): Promise<void> {
    await this.#stop();
    this.#iter = this.#repo
      .fetchBlob({ digest: this.#digest, size: this.size }, { offset })
      [Symbol.asyncIterator]();
    this.#pos = offset;
  }

  async #stop(): Promise<void> {
    const it = this.#iter;
    this.#iter = undefined;
    this.#left = undefined;
    await it?.return?.().catch(() => {});
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#stop();
  }
}
