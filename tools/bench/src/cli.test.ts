import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { parseCliArgs } from "./cli.ts";

function error(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe("parseCliArgs", () => {
  it("uses 5 rounds, 1 warmup and all benchmarks by default", () => {
    expect(parseCliArgs([])).toEqual({
      names: [],
      rounds: 5,
      warmup: 1,
      json: false,
      list: false,
      help: false,
    });
  });

  it("reads names, counts and flags in any order", () => {
    expect(parseCliArgs(["digest", "--rounds", "3", "other", "--warmup=0", "--json"])).toEqual({
      names: ["digest", "other"],
      rounds: 3,
      warmup: 0,
      json: true,
      list: false,
      help: false,
    });
    expect(parseCliArgs(["--list"]).list).toBe(true);
    expect(parseCliArgs(["-h"]).help).toBe(true);
  });

  it("rejects bad counts", () => {
    for (const args of [
      ["--rounds", "0"],
      ["--rounds", "two"],
      ["--rounds", "1.5"],
      ["--warmup", "-1"],
    ]) {
      const err = error(() => parseCliArgs(args));
      expect(isInvalidArgument(err), args.join(" ")).toBe(true);
    }
  });

  it("rejects unknown options and missing values", () => {
    expect(isInvalidArgument(error(() => parseCliArgs(["--fast"])))).toBe(true);
    expect(isInvalidArgument(error(() => parseCliArgs(["--rounds"])))).toBe(true);
  });
});
