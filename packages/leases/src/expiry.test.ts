import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { expireLabel, leaseExpiry } from "./expiry.ts";
import { generateLeaseId } from "./generate_lease_id.ts";
import { LABEL_GC_EXPIRE } from "./labels.ts";

describe("expireLabel", () => {
  it("gives an RFC3339 time ms after now", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(expireLabel(90_000, now)).toBe("2026-01-01T00:01:30.000Z");
  });

  it("rejects negative and non-finite durations", () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      let caught: unknown;
      try {
        expireLabel(bad);
      } catch (err) {
        caught = err;
      }
      expect(isInvalidArgument(caught)).toBe(true);
    }
  });
});

describe("leaseExpiry", () => {
  it("parses the label, including Go's RFC3339Nano form", () => {
    expect(leaseExpiry({ [LABEL_GC_EXPIRE]: "2026-01-01T00:00:00Z" })?.toISOString()).toBe(
      "2026-01-01T00:00:00.000Z",
    );
    expect(
      leaseExpiry({ [LABEL_GC_EXPIRE]: "2026-01-01T01:00:00.123456789+01:00" })?.getTime(),
    ).toBe(Date.parse("2026-01-01T00:00:00.123Z"));
  });

  it("is undefined without the label or with a value that does not parse", () => {
    expect(leaseExpiry({})).toBeUndefined();
    expect(leaseExpiry({ [LABEL_GC_EXPIRE]: "tomorrow" })).toBeUndefined();
  });
});

describe("generateLeaseId", () => {
  it("gives a timestamp and a random suffix, different each time", () => {
    const ids = new Set(Array.from({ length: 100 }, generateLeaseId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^\d+-[A-Za-z0-9_-]{4}$/);
  });
});
