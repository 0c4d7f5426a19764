import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { nsToMs, parseSize, ratio, summarize, throughputMiBs } from "./stats.ts";

describe("summarize", () => {
  it("gives min, median, max and mean of an odd number of samples, in any order", () => {
    expect(summarize([30, 10, 20])).toEqual({ n: 3, min: 10, median: 20, max: 30, mean: 20 });
  });

  it("takes the mean of the two middle samples as the median of an even count", () => {
    expect(summarize([4, 1, 3, 2]).median).toBe(2.5);
  });

  it("handles a single sample", () => {
    expect(summarize([7])).toEqual({ n: 1, min: 7, median: 7, max: 7, mean: 7 });
  });

  it("does not reorder the caller's array", () => {
    const samples = [3, 1, 2];
    summarize(samples);
    expect(samples).toEqual([3, 1, 2]);
  });

  it("rejects no samples and samples that are not finite non-negative numbers", () => {
    expect(() => summarize([])).toThrow("no samples");
    for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      let caught: unknown;
      try {
        summarize([1, bad]);
      } catch (err) {
        caught = err;
      }
      expect(isInvalidArgument(caught)).toBe(true);
    }
  });
});

describe("ratio", () => {
  it("divides strata's median by the peer's", () => {
    expect(ratio(50, 100)).toBe(0.5);
    expect(ratio(300, 100)).toBe(3);
  });

  it("is undefined when the peer's median is 0", () => {
    expect(ratio(1, 0)).toBeUndefined();
  });
});

describe("throughputMiBs", () => {
  it("gives MiB per second", () => {
    expect(throughputMiBs(1024 * 1024 * 100, 500)).toBe(200);
  });

  it("is undefined for 0 ms", () => {
    expect(throughputMiBs(10, 0)).toBeUndefined();
  });
});

describe("nsToMs", () => {
  it("converts hrtime nanoseconds to milliseconds", () => {
    expect(nsToMs(1_500_000n)).toBe(1.5);
  });
});

describe("parseSize", () => {
  it("parses plain bytes and binary and decimal units, case-insensitively", () => {
    expect(parseSize("1073741824")).toBe(1024 ** 3);
    expect(parseSize("64M")).toBe(64 * 1024 ** 2);
    expect(parseSize("64mib")).toBe(64 * 1024 ** 2);
    expect(parseSize("1GiB")).toBe(1024 ** 3);
    expect(parseSize("1.5G")).toBe(1.5 * 1024 ** 3);
    expect(parseSize("10MB")).toBe(10_000_000);
    expect(parseSize(" 4 k ")).toBe(4096);
    expect(parseSize("100b")).toBe(100);
  });

  it("rejects what is not a size", () => {
    for (const bad of ["", "abc", "-5M", "10 parsecs", "1e9", "0", "0.1"]) {
      expect(() => parseSize(bad), bad).toThrow(/invalid size/);
    }
  });
});
