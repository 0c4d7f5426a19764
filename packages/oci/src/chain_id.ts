import { InvalidArgumentError } from "@strata/errdefs";
import { type Digest, digestOf, validateDigest } from "./digest.ts";

/**
 * The ChainID of a stack of layers, per the OCI image spec:
 * `ChainID(L0) = DiffID(L0)`, and
 * `ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))`.
 *
 * @throws {InvalidArgumentError} when `diffIDs` is empty or holds a malformed digest.
 *
 * @example
 * ```ts
 * chainID([diffA, diffB]); // sha256 of `${diffA} ${diffB}`
 * ```
 */
export function chainID(diffIDs: readonly Digest[]): Digest {
  const ids = chainIDs(diffIDs);
  const last = ids[ids.length - 1];
  if (last === undefined) throw new InvalidArgumentError("cannot compute chain ID of no layers");
  return last;
}

/**
 * The ChainID of every prefix of `diffIDs`: element `i` is the ChainID of
 * layers `0..i`.
 *
 * @throws {InvalidArgumentError} when `diffIDs` is empty or holds a malformed digest.
 */
export function chainIDs(diffIDs: readonly Digest[]): Digest[] {
  if (diffIDs.length === 0) throw new InvalidArgumentError("cannot compute chain ID of no layers");
  const out: Digest[] = [];
  let parent: Digest | undefined;
  diffIDs.forEach((d, i) => {
    let diffID: Digest;
    try {
      diffID = validateDigest(d);
    } catch (err) {
      throw new InvalidArgumentError(
        `cannot compute chain ID: diffIDs[${i}]: ${(err as Error).message}`,
        { cause: err },
      );
    }
    parent = parent === undefined ? diffID : digestOf(`${parent} ${diffID}`);
    out.push(parent);
  });
  return out;
}
