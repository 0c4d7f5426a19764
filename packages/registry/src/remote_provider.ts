import type { Provider, ReaderAt } from "@strata/content";
import { InvalidArgumentError, NotFoundError } from "@strata/errdefs";
import { type Digest, validateDigest } from "./_oci.ts";
import type { Repository } from "./repository.ts";

/** Options of {@link RemoteProvider}. */
export interface RemoteProviderOptions {
  /**
   * The least a ranged request fetches (read-ahead), default 1 MiB, so small
   * sequential reads (tar headers) do not each cost a round trip. 0 turns it off.
   */
  readAhead?: number;
}

/**
 * A content `Provider` over one registry repository: `readerAt` costs at
 * most a HEAD (when the size is not given), and each `readAt` is a ranged
 * GET, so a layer stays in the registry until its bytes are needed (lazy).
 * Random reads cannot be digest-verified; verify when reading a whole blob
 * (`Repository.fetchBlob`) or by writing it into a content store.
 *
 * @example
 * ```ts
 * const provider = client.repository("ghcr.io/acme/app").provider();
 * const ra = await provider.readerAt(layer);
 * const n = await ra.readAt(buf, 1024);
 * ```
 */
export class RemoteProvider implements Provider {
  readonly #repo: Repository;
  readonly #readAhead: number;

  constructor(repository: Repository, options?: RemoteProviderOptions) {
    this.#repo = repository;
    this.#readAhead = options?.readAhead ?? 1 << 20;
  }

  /**
   * Opens a reader on a blob of the repository.
   *
   * @throws {NotFoundError} when the registry does not have the blob.
   */
  async readerAt(
    desc: { digest: string; size?: number },
    options?: { signal?: AbortSignal },
  ): Promise<ReaderAt> {
    const digest = validateDigest(desc.digest);
    let size = desc.size;
    if (size === undefined) {
      const stat = await this.#repo.statBlob(digest, options ?? {});
      if (stat === undefined) {
        throw new NotFoundError(
          `blob ${this.#repo.registry}/${this.#repo.name}@${desc.digest}: not found`,
        );
      }
      size = stat.size;
    }
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new InvalidArgumentError(`cannot read blob ${digest}: invalid size ${size}`);
    }
    return new RemoteReaderAt(this.#repo, { digest, size }, this.#readAhead);
  }
}

class RemoteReaderAt implements ReaderAt {
  readonly size: number;
  readonly #repo: Repository;
  readonly #digest: Digest;
  readonly #readAhead: number;
  #window: { offset: number; bytes: Uint8Array } | undefined;
  #closed = false;

  constructor(repo: Repository, desc: { digest: Digest; size: number }, readAhead: number) {
    this.#repo = repo;
    this.#digest = desc.digest;
    this.size = desc.size;
    this.#readAhead = readAhead;
  }

  async readAt(buffer: Uint8Array, offset: number): Promise<number> {
    if (this.#closed) {
      throw new InvalidArgumentError(`reader of blob ${this.#digest} is closed`);
    }
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(`cannot read blob ${this.#digest} at offset ${offset}`);
    }
    if (offset >= this.size || buffer.byteLength === 0) return 0;
    const want = Math.min(buffer.byteLength, this.size - offset);
    const w = this.#window;
    if (w !== undefined && offset >= w.offset && offset + want <= w.offset + w.bytes.byteLength) {
      buffer.set(w.bytes.subarray(offset - w.offset, offset - w.offset + want));
      return want;
    }
    const fetchLength = Math.min(Math.max(want, this.#readAhead), this.size - offset);
    const target = fetchLength === want ? buffer : new Uint8Array(fetchLength);
    let at = 0;
    for await (const chunk of this.#repo.fetchBlob(
      { digest: this.#digest, size: this.size },
      { offset, length: fetchLength },
    )) {
      target.set(chunk, at);
      at += chunk.byteLength;
    }
    if (target !== buffer) {
      this.#window = { offset, bytes: target };
      buffer.set(target.subarray(0, want));
    }
    return want;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#window = undefined;
  }
}
