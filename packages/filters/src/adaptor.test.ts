import { describe, expect, it } from "vitest";
import { ABSENT, objectAdaptor } from "./adaptor.ts";

describe("objectAdaptor", () => {
  const adaptor = objectAdaptor({
    fields: { ref: "build-1", gone: undefined },
    labels: { "a.b": "1", k: "" },
  });

  it("answers top-level fields and leaves unknown or undefined ones absent", () => {
    expect(adaptor(["ref"])).toEqual({ value: "build-1", present: true });
    expect(adaptor(["gone"])).toEqual(ABSENT);
    expect(adaptor(["nope"])).toEqual(ABSENT);
    expect(adaptor(["ref", "deeper"])).toEqual(ABSENT);
    expect(adaptor([])).toEqual(ABSENT);
  });

  it("joins the rest of a labels path with dots", () => {
    expect(adaptor(["labels", "a.b"])).toEqual({ value: "1", present: true });
    expect(adaptor(["labels", "a", "b"])).toEqual({ value: "1", present: true });
    expect(adaptor(["labels", "k"])).toEqual({ value: "", present: true });
    expect(adaptor(["labels", "x"])).toEqual(ABSENT);
  });

  it("does not see inherited properties as labels or fields", () => {
    expect(adaptor(["labels", "toString"])).toEqual(ABSENT);
    expect(adaptor(["constructor"])).toEqual(ABSENT);
  });

  it("reports bare labels present only when there are labels", () => {
    expect(adaptor(["labels"]).present).toBe(true);
    expect(objectAdaptor({})(["labels"]).present).toBe(false);
  });
});
