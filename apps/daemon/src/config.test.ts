import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { defaultConfig, loadConfig, parseByteSize, parseDurationMs } from "./config.ts";

describe("loadConfig", () => {
  it("sets the limits from their flags", async () => {
    const config = await loadConfig(
      [
        "--max-message-size",
        "4MiB",
        "--max-concurrent-streams",
        "8",
        "--stream-idle-timeout",
        "750ms",
      ],
      {},
    );
    expect(config).toMatchObject({
      maxMessageBytes: 4 << 20,
      maxConcurrentStreams: 8,
      streamIdleTimeoutMs: 750,
    });
  });

  it("keeps the defaults of the limits without flags", async () => {
    const config = await loadConfig([], {});
    const defaults = defaultConfig({});
    expect(config).toMatchObject({
      maxMessageBytes: defaults.maxMessageBytes,
      streamIdleTimeoutMs: 5 * 60_000,
    });
  });

  it("rejects a bad limit flag", async () => {
    for (const argv of [
      ["--max-concurrent-streams", "0"],
      ["--max-concurrent-streams", "x"],
      ["--stream-idle-timeout", "soon"],
      ["--max-message-size", "-1"],
    ]) {
      const err = await loadConfig(argv, {}).catch((e: unknown) => e);
      expect(isInvalidArgument(err), String(err)).toBe(true);
    }
  });
});

describe("parseByteSize", () => {
  it("reads plain bytes and binary units", () => {
    expect(parseByteSize("--x", "512")).toBe(512);
    expect(parseByteSize("--x", "4k")).toBe(4096);
    expect(parseByteSize("--x", "16M")).toBe(16 << 20);
    expect(parseByteSize("--x", "1GiB")).toBe(1 << 30);
  });

  it("rejects zero, unknown units and sizes over 2 GiB", () => {
    for (const bad of ["0", "12q", "3G", "", "1.5M"]) {
      expect(() => parseByteSize("--x", bad)).toThrow(/--x/);
    }
  });
});

describe("parseDurationMs", () => {
  it("reads milliseconds, seconds, minutes and hours", () => {
    expect(parseDurationMs("--d", "250")).toBe(250);
    expect(parseDurationMs("--d", "250ms")).toBe(250);
    expect(parseDurationMs("--d", "1.5s")).toBe(1500);
    expect(parseDurationMs("--d", "5m")).toBe(300_000);
    expect(parseDurationMs("--d", "1h")).toBe(3_600_000);
  });

  it("rejects zero and text that is no duration", () => {
    for (const bad of ["0", "0s", "5 days", "-1s", "s"]) {
      expect(() => parseDurationMs("--d", bad)).toThrow(/--d/);
    }
  });
});
