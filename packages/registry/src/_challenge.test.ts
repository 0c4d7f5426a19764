import { describe, expect, it } from "vitest";
import { parseChallenges } from "./_challenge.ts";

describe("parseChallenges", () => {
  it("reads a distribution bearer challenge with quoted parameters", () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.io/token",service="registry.io",scope="repository:a/b:pull,push"',
      ),
    ).toEqual([
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.io/token",
          service: "registry.io",
          scope: "repository:a/b:pull,push",
        },
      },
    ]);
  });

  it("reads several challenges, token values and escapes", () => {
    expect(
      parseChallenges('Basic realm="a\\"b", Bearer realm=x, error=insufficient_scope'),
    ).toEqual([
      { scheme: "basic", params: { realm: 'a"b' } },
      { scheme: "bearer", params: { realm: "x", error: "insufficient_scope" } },
    ]);
  });

  it("gives nothing for an empty or junk header", () => {
    expect(parseChallenges("")).toEqual([]);
    expect(parseChallenges("  ,,  ")).toEqual([]);
    expect(parseChallenges("=junk")).toEqual([]);
  });
});
