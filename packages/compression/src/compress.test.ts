import { gunzipSync, zstdDecompressSync } from "node:zlib";
import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { chunked, collect, once, randomChunks, run, semiRandom } from "./_testing.ts";
import { compress } from "./compress.ts";
import { decompress } from "./decompress.ts";

const data = semiRandom(700_000, 3);

describe("compress", () => {
  it("round-trips through decompress for every stream compression", async () => {
    for (const c of ["uncompressed", "gzip", "zstd"] as const) {
      const out = await collect(compress(once(data), c));
      expect(Buffer.compare(await collect(decompress(once(out))), data), c).toBe(0);
    }
  });

  it("writes gzip that the gzip CLI decodes, parallel or not", async () => {
    for (const parallel of [true, false]) {
      const out = await collect(compress(once(data), "gzip", { parallel }));
      expect(Buffer.compare(run("gzip", ["-dc"], out), data)).toBe(0);
      expect(Buffer.compare(gunzipSync(out), data)).toBe(0);
    }
  });

  it("writes zstd that the zstd CLI decodes and checks", async () => {
    const out = await collect(compress(once(data), "zstd", { level: 5 }));
    expect(Buffer.compare(run("zstd", ["-dc"], out), data)).toBe(0);
    // The frame header announces a content checksum, which the CLI verifies.
    expect((out[4] ?? 0) & 0x04).toBe(0x04);
    run("zstd", ["-tq"], out);
    expect(Buffer.compare(zstdDecompressSync(out), data)).toBe(0);
  });

  it("gives the same bytes whatever the chunking and timing of the source", async () => {
    for (const [c, parallel] of [
      ["gzip", true],
      ["gzip", false],
      ["zstd", false],
    ] as const) {
      const reference = await collect(compress(once(data), c, { parallel }));
      const variants = [
        chunked(data, [1, 7, 4096, 65_537]),
        chunked(data, [131_072]),
        randomChunks(data, 11),
        randomChunks(data, 12, 300_000),
      ];
      for (const v of variants) {
        const out = await collect(compress(v, c, { parallel }));
        expect(Buffer.compare(out, reference), `${c} parallel=${parallel}`).toBe(0);
      }
    }
  });

  it("gives zstd output with a single frame and no trailing empty frame", async () => {
    // nodejs/node#66078 appends a 9-byte empty frame when end() races writes.
    const out = await collect(compress(randomChunks(data, 5), "zstd"));
    const magic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
    expect(out.indexOf(magic, 1)).toBe(-1);
  });

  it("compresses empty input to a valid empty stream", async () => {
    for (const c of ["gzip", "zstd"] as const) {
      for (const parallel of [true, false]) {
        const out = await collect(compress(once(new Uint8Array(0)), c, { parallel }));
        expect(out.length).toBeGreaterThan(0);
        expect((await collect(decompress(once(out)))).length).toBe(0);
        expect(run(c === "gzip" ? "gzip" : "zstd", ["-dc"], out).length).toBe(0);
      }
    }
  });

  it("rejects levels out of range", () => {
    const bad: Array<[Parameters<typeof compress>[1], number]> = [
      ["gzip", 10],
      ["gzip", -1],
      ["zstd", 0],
      ["zstd", 23],
      ["zstd", 1.5],
      ["estargz", 11],
    ];
    for (const [c, level] of bad) {
      let err: unknown;
      try {
        compress(once(data), c, { level });
      } catch (e) {
        err = e;
      }
      expect(isInvalidArgument(err), `${c} ${level}`).toBe(true);
    }
  });

  it("rejects an unknown compression", () => {
    expect(() => compress(once(data), "lz4" as "gzip")).toThrow(/unknown compression/);
  });

  it("passes the source's error through unchanged", async () => {
    const boom = new Error("disk on fire");
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield data.subarray(0, 200_000);
      throw boom;
    }
    for (const [c, parallel] of [
      ["gzip", true],
      ["gzip", false],
      ["zstd", false],
      ["uncompressed", false],
    ] as const) {
      await expect(collect(compress(failing(), c, { parallel }))).rejects.toBe(boom);
    }
  });

  it("stops with the signal's reason when aborted", async () => {
    for (const [c, parallel] of [
      ["gzip", true],
      ["gzip", false],
      ["zstd", false],
    ] as const) {
      const controller = new AbortController();
      const reason = new Error(`stop ${c}`);
      let n = 0;
      const out = compress(randomChunks(semiRandom(2_000_000, 9), 2), c, {
        parallel,
        signal: controller.signal,
      });
      await expect(
        (async () => {
          for await (const _ of out) {
            if (++n === 2) controller.abort(reason);
          }
        })(),
      ).rejects.toBe(reason);
    }
  });

  it("writes the same gzip header as node:zlib, parallel or not", async () => {
    for (const level of [1, 6, 9]) {
      const a = await collect(compress(once(data), "gzip", { level, parallel: true }));
      const b = await collect(compress(once(data), "gzip", { level, parallel: false }));
      expect(Buffer.compare(a.subarray(0, 10), b.subarray(0, 10)), `level ${level}`).toBe(0);
    }
  });
});
