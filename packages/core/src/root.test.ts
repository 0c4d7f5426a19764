import { describe, expect, it } from "vitest";
import { defaultRoot, rootLayout } from "./root.ts";

describe("defaultRoot", () => {
  it("prefers STRATA_ROOT, then XDG_DATA_HOME, then HOME", () => {
    expect(defaultRoot({ STRATA_ROOT: "/r", XDG_DATA_HOME: "/x" })).toBe("/r");
    expect(defaultRoot({ XDG_DATA_HOME: "/x" })).toBe("/x/strata");
    expect(defaultRoot({ HOME: "/home/u" })).toBe("/home/u/.local/share/strata");
  });
});

describe("rootLayout", () => {
  it("places the parts as DESIGN.md says", () => {
    expect(rootLayout("/r")).toEqual({
      root: "/r",
      content: "/r/content",
      snapshots: "/r/snapshots",
      metadata: "/r/metadata.db",
    });
  });
});
