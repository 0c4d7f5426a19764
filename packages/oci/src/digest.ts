import { createHash, type Hash } from "node:crypto";
import { DataLossError, InvalidArgumentError } from "@strata/errdefs";

/** A digest algorithm the OCI image spec registers and Strata accepts. */
export type Algorithm = "sha256" | "sha512";

/** A content digest, `<algorithm>:<lowercase hex>` (`sha256:e3b0…`). */
export type Digest = `${Algorithm}:${string}`;

/** The algorithm used when nothing says otherwise. */
export const CANONICAL_ALGORITHM: Algorithm = "sha256";

/** The length of the hex encoding of each algorithm. */
export const ALGORITHM_HEX_LENGTH: Readonly<Record<Algorithm, number>> = {
  sha256: 64,
  sha512: 128,
};

const LOWER_HEX = /^[0-9a-f]+$/;

/** Whether `value` names an algorithm Strata accepts (`sha256`, `sha512`). */
export function isAlgorithm(value: unknown): value is Algorithm {
  return value === "sha256" || value === "sha512";
}

function describe(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * Splits a digest into algorithm and encoded part and validates both.
 *
 * @throws {InvalidArgumentError} when `value` is empty, has no colon, names an
 * unknown algorithm, or whose hex part is not lowercase hex of the right length.
 *
 * @example
 * ```ts
 * parseDigest("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
 * // { algorithm: "sha256", encoded: "e3b0…", digest: "sha256:e3b0…" }
 * ```
 */
export function parseDigest(value: string): {
  algorithm: Algorithm;
  encoded: string;
  digest: Digest;
} {
  if (typeof value !== "string" || value === "") {
    throw new InvalidArgumentError(`invalid digest ${describe(value)}: empty`);
  }
  const colon = value.indexOf(":");
  if (colon < 0) {
    throw new InvalidArgumentError(
      `invalid digest ${describe(value)}: missing ":" between algorithm and hex`,
    );
  }
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (!isAlgorithm(algorithm)) {
    throw new InvalidArgumentError(
      `invalid digest ${describe(value)}: unsupported algorithm ${describe(algorithm)} (want sha256 or sha512)`,
    );
  }
  const length = ALGORITHM_HEX_LENGTH[algorithm];
  if (encoded.length !== length) {
    throw new InvalidArgumentError(
      `invalid digest ${describe(value)}: ${algorithm} hex must be ${length} characters, got ${encoded.length}`,
    );
  }
  if (!LOWER_HEX.test(encoded)) {
    throw new InvalidArgumentError(
      `invalid digest ${describe(value)}: ${algorithm} hex must be lowercase [0-9a-f]`,
    );
  }
  return { algorithm, encoded, digest: value as Digest };
}

/**
 * Returns `value` typed as a {@link Digest} after validating it.
 *
 * @throws {InvalidArgumentError} when `value` is not a valid digest (see {@link parseDigest}).
 */
export function validateDigest(value: string): Digest {
  return parseDigest(value).digest;
}

/** Whether `value` is a valid digest string; never throws. */
export function isDigest(value: unknown): value is Digest {
  if (typeof value !== "string") return false;
  const colon = value.indexOf(":");
  if (colon < 0) return false;
  const algorithm = value.slice(0, colon);
  if (!isAlgorithm(algorithm)) return false;
  const encoded = value.slice(colon + 1);
  return encoded.length === ALGORITHM_HEX_LENGTH[algorithm] && LOWER_HEX.test(encoded);
}

/**
 * Computes a digest incrementally and counts the bytes it was given.
 * `digest()` may be called any number of times, between updates too.
 *
 * @throws {InvalidArgumentError} from the constructor on an unknown algorithm.
 *
 * @example
 * ```ts
 * const d = new Digester();
 * for await (const chunk of source) d.update(chunk);
 * console.log(d.digest(), d.size);
 * ```
 */
export class Digester {
  #algorithm: Algorithm;
  #hash: Hash;
  #size = 0;

  constructor(algorithm: Algorithm = CANONICAL_ALGORITHM) {
    if (!isAlgorithm(algorithm)) {
      throw new InvalidArgumentError(
        `unsupported digest algorithm ${describe(algorithm)} (want sha256 or sha512)`,
      );
    }
    this.#algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  /** The algorithm of this digester. */
  get algorithm(): Algorithm {
    return this.#algorithm;
  }

  /** Adds bytes to the digest. */
  update(chunk: Uint8Array): this {
    this.#hash.update(chunk);
    this.#size += chunk.byteLength;
    return this;
  }

  /** The number of bytes given so far. */
  get size(): number {
    return this.#size;
  }

  /** The digest of the bytes given so far. */
  digest(): Digest {
    return `${this.#algorithm}:${this.#hash.copy().digest("hex")}`;
  }
}

/**
 * Digests bytes held in memory (a string is encoded as UTF-8).
 *
 * @example
 * ```ts
 * digestOf(""); // "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
 * ```
 */
export function digestOf(data: Uint8Array | string, algorithm: Algorithm = "sha256"): Digest {
  const d = new Digester(algorithm);
  d.update(typeof data === "string" ? new TextEncoder().encode(data) : data);
  return d.digest();
}

/**
 * Reads a stream to its end and returns its digest and size.
 *
 * @throws the signal's reason (an `AbortError`) when `options.signal` aborts;
 * errors of `source` as they are.
 */
export async function digestStream(
  source: AsyncIterable<Uint8Array>,
  options?: { algorithm?: Algorithm; signal?: AbortSignal },
): Promise<{ digest: Digest; size: number }> {
  const d = new Digester(options?.algorithm ?? CANONICAL_ALGORITHM);
  options?.signal?.throwIfAborted();
  for await (const chunk of source) {
    options?.signal?.throwIfAborted();
    d.update(chunk);
  }
  return { digest: d.digest(), size: d.size };
}

/**
 * Passes a stream through while checking it against an expected digest and
 * (optionally) size.
 *
 * @throws {DataLossError} as soon as more than `expected.size` bytes arrive,
 * and at the end when the stream is short or its digest differs.
 * {@link InvalidArgumentError} when `expected.digest` is malformed or
 * `expected.size` is not a non-negative integer; the signal's reason on abort.
 *
 * @example
 * ```ts
 * for await (const chunk of verifyStream(body, { digest, size })) await file.write(chunk);
 * ```
 */
export function verifyStream(
  source: AsyncIterable<Uint8Array>,
  expected: { digest: Digest; size?: number },
  options?: { signal?: AbortSignal },
): AsyncIterable<Uint8Array> {
  const { algorithm } = parseDigest(expected.digest);
  const size = expected.size;
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
    throw new InvalidArgumentError(
      `cannot verify ${expected.digest}: expected size must be a non-negative integer, got ${size}`,
    );
  }
  const signal = options?.signal;
  return {
    async *[Symbol.asyncIterator]() {
      const what = `cannot verify ${expected.digest}`;
      const d = new Digester(algorithm);
      signal?.throwIfAborted();
      for await (const chunk of source) {
        signal?.throwIfAborted();
        d.update(chunk);
        if (size !== undefined && d.size > size) {
          throw new DataLossError(`${what}: expected size ${size}, got more (${d.size} so far)`);
        }
        yield chunk;
      }
      if (size !== undefined && d.size !== size) {
        throw new DataLossError(`${what}: expected size ${size}, got ${d.size}`);
      }
      const actual = d.digest();
      if (actual !== expected.digest) {
        throw new DataLossError(`${what}: digest mismatch, got ${actual} (${d.size} bytes)`);
      }
    },
  };
}
