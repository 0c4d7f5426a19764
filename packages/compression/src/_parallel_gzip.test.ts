import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { PARALLEL_GZIP_BLOCK_SIZE, parallelGzip } from "./_parallel_gzip.ts";
import { chunked, collect, once, run, semiRandom } from "./_testing.ts";

describe("parallelGzip", () => {
  it("writes one gzip member that gzip -t accepts, at block boundaries too", async () => {
    const B = PARALLEL_GZIP_BLOCK_SIZE;
    for (const size of [0, 1, 32 * 1024, B - 1, B, B + 1, 3 * B, 5 * B + 77]) {
      const data = semiRandom(size, size + 1);
      const out = await collect(parallelGzip(chunked(data, [10_000, 99_999])));
      run("gzip", ["-t"], out);
      expect(Buffer.compare(gunzipSync(out), data), `size ${size}`).toBe(0);
      // One member: the trailer holds the whole size and CRC.
      const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
      expect(view.getUint32(out.length - 4, true), `size ${size}`).toBe(size);
    }
  });

  it("uses the previous block as dictionary (as small as single-stream gzip)", async () => {
    // Repetitive data crossing blocks compresses only with the dictionary.
    const unit = semiRandom(20_000, 5);
    const data = new Uint8Array(20 * 20_000);
    for (let i = 0; i < 20; i++) data.set(unit, i * 20_000);
    const withDict = await collect(parallelGzip(once(data), { blockSize: 32 * 1024 }));
    expect(withDict.length).toBeLessThan(unit.length);
  });

  it("depends only on input, level and block size, not on concurrency", async () => {
    const data = semiRandom(1_000_000, 8);
    const a = await collect(parallelGzip(once(data), { concurrency: 1 }));
    const b = await collect(parallelGzip(chunked(data, [7, 70_000]), { concurrency: 8 }));
    expect(Buffer.compare(a, b)).toBe(0);
    const c = await collect(parallelGzip(once(data), { blockSize: 256 * 1024 }));
    expect(Buffer.compare(gunzipSync(c), data)).toBe(0);
  });
});
