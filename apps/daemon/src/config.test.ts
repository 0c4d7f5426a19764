import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

describe("loadConfig, garbage collection", () => {
  it("takes containerd's scheduler settings and the cache GC interval from flags", async () => {
    const config = await loadConfig(
      [
        "--gc-pause-threshold",
        "0.1",
        "--gc-deletion-threshold",
        "5",
        "--gc-mutation-threshold",
        "0",
        "--gc-schedule-delay",
        "2s",
        "--gc-startup-delay",
        "0",
        "--cache-gc-interval",
        "10m",
      ],
      {},
    );
    expect(config).toMatchObject({
      gc: {
        pauseThreshold: 0.1,
        deletionThreshold: 5,
        mutationThreshold: 0,
        scheduleDelayMs: 2000,
        startupDelayMs: 0,
      },
      cacheGcIntervalMs: 600_000,
      cacheGcPolicies: undefined,
    });
    expect(await loadConfig(["--no-gc"], {})).toMatchObject({ gc: false });
    expect(await loadConfig([], {})).toMatchObject({ gc: {}, cacheGcIntervalMs: undefined });
  });

  it("reads them from the config file, flags winning", async () => {
    const dir = await mkdtemp(join(tmpdir(), "stratad-config-"));
    try {
      const file = join(dir, "c.json");
      await writeFile(
        file,
        JSON.stringify({
          gc: { mutationThreshold: 50, startupDelayMs: 0 },
          cacheGcIntervalMs: 60_000,
          cacheGcPolicies: [
            { filters: ["type==source.local"], keepDurationMs: 3_600_000, maxUsedSpace: 1e9 },
            { all: true, reservedSpace: 2e9 },
          ],
        }),
      );
      const config = await loadConfig(["--config", file, "--gc-mutation-threshold", "7"], {});
      expect(config).toMatchObject({
        gc: { mutationThreshold: 7, startupDelayMs: 0 },
        cacheGcIntervalMs: 60_000,
        cacheGcPolicies: [
          { filters: ["type==source.local"], keepDurationMs: 3_600_000, maxUsedSpace: 1e9 },
          { all: true, reservedSpace: 2e9 },
        ],
      });
      await writeFile(file, JSON.stringify({ gc: false }));
      expect(await loadConfig(["--config", file], {})).toMatchObject({ gc: false });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects bad settings", async () => {
    for (const argv of [
      ["--gc-pause-threshold", "0.9"],
      ["--gc-deletion-threshold", "-1"],
      ["--gc-schedule-delay", "soon"],
      ["--cache-gc-interval", "0"],
    ]) {
      await expect(loadConfig(argv, {})).rejects.toSatisfy(isInvalidArgument);
    }
    const dir = await mkdtemp(join(tmpdir(), "stratad-config-"));
    try {
      const file = join(dir, "c.json");
      for (const bad of [
        { gc: { pauseThreshold: 2 } },
        { gc: { unknown: 1 } },
        { gc: true },
        { cacheGcPolicies: {} },
        { cacheGcPolicies: [{ keepDuration: 5 }] },
        { cacheGcPolicies: [{ all: "yes" }] },
        { cacheGcPolicies: [{ filters: [1] }] },
      ]) {
        await writeFile(file, JSON.stringify(bad));
        await expect(loadConfig(["--config", file], {})).rejects.toSatisfy(isInvalidArgument);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
