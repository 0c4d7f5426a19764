import { gzipSync, zstdCompressSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { makeTar } from "./_testing.ts";
import { DETECT_HEAD_SIZE, detectCompression } from "./detect.ts";

describe("detectCompression", () => {
  it("detects gzip from its magic", () => {
    expect(detectCompression(gzipSync("hello"))).toBe("gzip");
    expect(detectCompression(Uint8Array.of(0x1f, 0x8b, 0x08))).toBe("gzip");
  });

  it("detects zstd from its frame magic", () => {
    expect(detectCompression(zstdCompressSync("hello"))).toBe("zstd");
    expect(detectCompression(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd))).toBe("zstd");
  });

  it("detects zstd from every skippable frame magic", () => {
    for (let low = 0x50; low <= 0x5f; low++) {
      expect(detectCompression(Uint8Array.of(low, 0x2a, 0x4d, 0x18, 0, 0, 0, 0))).toBe("zstd");
    }
  });

  it("says uncompressed for a tar stream", () => {
    const tar = makeTar([{ name: "a", typeflag: "0", body: new Uint8Array(3) }]);
    expect(detectCompression(tar.subarray(0, DETECT_HEAD_SIZE))).toBe("uncompressed");
  });

  it("says uncompressed when the head is shorter than a whole magic", () => {
    expect(detectCompression(new Uint8Array(0))).toBe("uncompressed");
    expect(detectCompression(Uint8Array.of(0x1f))).toBe("uncompressed");
    expect(detectCompression(Uint8Array.of(0x1f, 0x8b))).toBe("uncompressed");
    expect(detectCompression(Uint8Array.of(0x28, 0xb5, 0x2f))).toBe("uncompressed");
  });

  it("says uncompressed for near misses of the magics", () => {
    expect(detectCompression(Uint8Array.of(0x1f, 0x8b, 0x07, 0))).toBe("uncompressed");
    expect(detectCompression(Uint8Array.of(0x28, 0xb5, 0x2f, 0xfe))).toBe("uncompressed");
    expect(detectCompression(Uint8Array.of(0x60, 0x2a, 0x4d, 0x18))).toBe("uncompressed");
    expect(detectCompression(Uint8Array.of(0x50, 0x2a, 0x4d, 0x19))).toBe("uncompressed");
  });
});
