import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { chainID, chainIDs } from "./chain_id.ts";
import type { Digest } from "./digest.ts";

// The diff_ids of the example image config in the OCI image spec (config.md).
const SPEC_L0: Digest = "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1";
const SPEC_L1: Digest = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
// Computed independently: printf '%s' "$L0 $L1" | sha256sum
const SPEC_CHAIN: Digest =
  "sha256:c3191d32a37d7159b2e30830937d2e30268ad6c375a773a8994911a3aba9b93f";
const EMPTY: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// printf '%s' "$SPEC_CHAIN $EMPTY" | sha256sum
const THREE: Digest = "sha256:6f0a0696263337b2d736479620d499fcbfdcaabd531638e8a7591dacf9797635";

describe("chainID", () => {
  it("is the diffID itself for one layer", () => {
    expect(chainID([SPEC_L0])).toBe(SPEC_L0);
  });

  it("matches the spec's example config for two layers", () => {
    expect(chainID([SPEC_L0, SPEC_L1])).toBe(SPEC_CHAIN);
  });

  it("folds over three layers", () => {
    expect(chainID([SPEC_L0, SPEC_L1, EMPTY])).toBe(THREE);
  });

  it("depends on layer order", () => {
    expect(chainID([SPEC_L1, SPEC_L0])).not.toBe(SPEC_CHAIN);
  });

  it("throws InvalidArgument on no layers", () => {
    expect(() => chainID([])).toThrow(/no layers/);
    try {
      chainID([]);
    } catch (err) {
      expect(isInvalidArgument(err)).toBe(true);
    }
  });

  it("throws InvalidArgument naming a malformed diffID", () => {
    let err: unknown;
    try {
      chainID([SPEC_L0, "sha256:ABC" as Digest]);
    } catch (e) {
      err = e;
    }
    expect(isInvalidArgument(err)).toBe(true);
    expect((err as Error).message).toMatch(/diffIDs\[1\]/);
  });
});

describe("chainIDs", () => {
  it("returns the chain ID of every prefix", () => {
    expect(chainIDs([SPEC_L0, SPEC_L1, EMPTY])).toEqual([SPEC_L0, SPEC_CHAIN, THREE]);
  });
});
