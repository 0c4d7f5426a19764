import { isNotFound, NotFoundError } from "@strata/errdefs";
import type { Descriptor, Digest } from "./_oci.ts";
import type { Provider, ReaderAt } from "./content.ts";

/**
 * A provider made of others: blobs registered with `add` come from their own
 * provider; any other digest is asked of the fallbacks in order, the first
 * that has it winning (NotFound moves on, other errors stop the search).
 *
 * @example
 * ```ts
 * const providers = new MultiProvider([localStore]);
 * providers.add(layer.digest, registryProvider); // lazily pulled layer
 * const ra = await providers.readerAt(layer);
 * ```
 */
export class MultiProvider implements Provider {
  readonly #fallbacks: Provider[];
  readonly #byDigest = new Map<Digest, Provider>();

  constructor(fallbacks: readonly Provider[] = []) {
    this.#fallbacks = [...fallbacks];
  }

  /** Serves `digest` from `provider` from now on. */
  add(digest: Digest, provider: Provider): void {
    this.#byDigest.set(digest, provider);
  }

  /** @throws {NotFoundError} when no provider has the blob. */
  async readerAt(
    desc: Pick<Descriptor, "digest"> & { size?: number },
    options?: { signal?: AbortSignal },
  ): Promise<ReaderAt> {
    const own = this.#byDigest.get(desc.digest);
    if (own !== undefined) return own.readerAt(desc, options);
    const misses: unknown[] = [];
    for (const provider of this.#fallbacks) {
      try {
        return await provider.readerAt(desc, options);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        misses.push(err);
      }
    }
    throw new NotFoundError(
      `content ${desc.digest}: not found in any of ${this.#fallbacks.length} providers`,
      misses.length > 0 ? { cause: misses[misses.length - 1] } : undefined,
    );
  }
}
