import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { applyLabelUpdate, compactLabels, MAX_LABEL_SIZE, validateLabels } from "./labels.ts";

describe("validateLabels", () => {
  it("accepts a label of exactly 4096 bytes", () => {
    expect(() => validateLabels({ k: "v".repeat(MAX_LABEL_SIZE - 1) }, "ctx")).not.toThrow();
  });
  it("refuses a label over 4096 bytes and an empty key with InvalidArgument", () => {
    for (const labels of [{ k: "v".repeat(MAX_LABEL_SIZE) }, { "": "x" }]) {
      let caught: unknown;
      try {
        validateLabels(labels, "cannot label x");
      } catch (err) {
        caught = err;
      }
      expect(isInvalidArgument(caught)).toBe(true);
      expect(String(caught)).toContain("cannot label x");
    }
  });
});

describe("compactLabels", () => {
  it("drops empty values", () => {
    expect(compactLabels({ a: "", b: "1" })).toEqual({ b: "1" });
  });
});

describe("applyLabelUpdate", () => {
  const current = { a: "1", b: "2" };
  it("replaces all labels without fieldpaths or with `labels`", () => {
    expect(applyLabelUpdate(current, { c: "3", d: "" }, [], "u")).toEqual({ c: "3" });
    expect(applyLabelUpdate(current, { c: "3" }, ["labels", "labels.a"], "u")).toEqual({ c: "3" });
  });
  it("sets and removes single keys with `labels.<key>`", () => {
    expect(applyLabelUpdate(current, { b: "", c: "3" }, ["labels.b", "labels.c"], "u")).toEqual({
      a: "1",
      c: "3",
    });
    expect(applyLabelUpdate(current, {}, ["labels.a"], "u")).toEqual({ b: "2" });
  });
  it("refuses other fieldpaths with InvalidArgument", () => {
    for (const fp of ["parent", "labels.", "name"]) {
      expect(() => applyLabelUpdate(current, {}, [fp], "u")).toThrow(/cannot update field/);
    }
  });
});
