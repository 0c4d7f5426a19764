import { describe, expect, it } from "vitest";
import { binarySize, humanDuration, humanSize, parseDuration } from "./units.ts";

describe("humanSize", () => {
  it("prints decimal units with four significant digits", () => {
    expect(humanSize(0)).toBe("0B");
    expect(humanSize(999)).toBe("999B");
    expect(humanSize(1234)).toBe("1.234kB");
    expect(humanSize(10_485_760)).toBe("10.49MB");
    expect(humanSize(2_000_000_000)).toBe("2GB");
  });
});

describe("humanDuration", () => {
  it("words durations like go-units", () => {
    expect(humanDuration(200)).toBe("Less than a second");
    expect(humanDuration(5_000)).toBe("5 seconds");
    expect(humanDuration(70_000)).toBe("About a minute");
    expect(humanDuration(3 * 3_600_000)).toBe("3 hours");
  });
});

describe("parseDuration", () => {
  it("parses Go durations", () => {
    expect(parseDuration("24h")).toBe(86_400_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("500ms")).toBe(500);
  });

  it("rejects what is not a duration", () => {
    expect(parseDuration("")).toBeUndefined();
    expect(parseDuration("10")).toBeUndefined();
    expect(parseDuration("1d")).toBeUndefined();
    expect(parseDuration("5m later")).toBeUndefined();
  });
});

describe("binarySize", () => {
  it("prints one decimal and binary units as ctr does", () => {
    expect(binarySize(0)).toBe("0.0 B");
    expect(binarySize(4096)).toBe("4.0 KiB");
    expect(binarySize(1536 * 1024 * 1024)).toBe("1.5 GiB");
  });
});
