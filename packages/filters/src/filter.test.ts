import { describe, expect, it } from "vitest";
import { objectAdaptor } from "./adaptor.ts";
import { ALWAYS, matchSelector } from "./filter.ts";

describe("ALWAYS", () => {
  it("matches any object, even one with no fields", () => {
    expect(ALWAYS.match(objectAdaptor({}))).toBe(true);
    expect(ALWAYS.clauses).toEqual([[]]);
  });
});

describe("matchSelector", () => {
  const adaptor = objectAdaptor({ fields: { ref: "ingest-7" } });

  it("compiles the value as a regular expression when none is given", () => {
    expect(
      matchSelector({ fieldpath: ["ref"], operator: "~=", value: "^ingest-\\d$" }, adaptor),
    ).toBe(true);
    expect(matchSelector({ fieldpath: ["ref"], operator: "~=", value: "^x" }, adaptor)).toBe(false);
  });

  it("needs presence for == but not for !=", () => {
    expect(matchSelector({ fieldpath: ["x"], operator: "==", value: "" }, adaptor)).toBe(false);
    expect(matchSelector({ fieldpath: ["x"], operator: "!=", value: "a" }, adaptor)).toBe(true);
  });
});
