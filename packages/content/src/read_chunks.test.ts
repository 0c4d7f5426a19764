import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { ReaderAt } from "./content.ts";
import { readChunks } from "./read_chunks.ts";

function memoryReader(
  data: Uint8Array,
  options: { failAt?: number; calls?: number[] } = {},
): ReaderAt {
  return {
    size: data.length,
    async readAt(buffer, offset) {
      options.calls?.push(offset);
      await new Promise((r) => setTimeout(r, 1));
      if (options.failAt !== undefined && offset >= options.failAt) throw new Error("disk on fire");
      const n = Math.min(buffer.length, data.length - offset);
      buffer.set(data.subarray(offset, offset + n));
      return n;
    },
    async close() {},
  };
}

describe("readChunks", () => {
  it("yields the bytes from the offset in chunks of the size asked", async () => {
    const data = randomBytes(10_000);
    const got: Buffer[] = [];
    const sizes: number[] = [];
    for await (const chunk of readChunks(memoryReader(data), { offset: 1234, chunkSize: 1000 })) {
      sizes.push(chunk.length);
      got.push(Buffer.from(chunk)); // copied: the buffer is reused
    }
    expect(Buffer.concat(got).equals(data.subarray(1234))).toBe(true);
    expect(sizes).toEqual([...Array(8).fill(1000), 766]);
  });

  it("keeps a chunk intact until the next is asked for, while reading ahead", async () => {
    const data = randomBytes(64 * 1024);
    const calls: number[] = [];
    const iterator = readChunks(memoryReader(data, { calls }), { chunkSize: 4096 });
    let offset = 0;
    for await (const chunk of iterator) {
      // The next read was started before this chunk was handed out...
      if (offset + 4096 < data.length) expect(calls).toContain(offset + 4096);
      // ...into the other buffer: this one still holds its own bytes.
      await new Promise((r) => setTimeout(r, 3));
      expect(Buffer.from(chunk).equals(data.subarray(offset, offset + chunk.length))).toBe(true);
      offset += chunk.length;
    }
    expect(offset).toBe(data.length);
  });

  it("yields nothing at the end, and refuses an offset past it", async () => {
    const data = randomBytes(100);
    const none: Uint8Array[] = [];
    for await (const c of readChunks(memoryReader(data), { offset: 100 })) none.push(c);
    expect(none).toEqual([]);
    const past = readChunks(memoryReader(data), { offset: 101 });
    await expect(past.next()).rejects.toThrow(/offset 101: the source has only 100 bytes/);
  });

  it("passes a read error on, and a caller that stops early leaves no read unobserved", async () => {
    const data = randomBytes(10_000);
    const failing = readChunks(memoryReader(data, { failAt: 3000 }), { chunkSize: 1000 });
    await expect(
      (async () => {
        for await (const _ of failing);
      })(),
    ).rejects.toThrow("disk on fire");
    // Stops after the first chunk while the second read (which fails) is in flight.
    for await (const _ of readChunks(memoryReader(data, { failAt: 1000 }), { chunkSize: 1000 })) {
      break;
    }
  });

  it("stops when the signal fires", async () => {
    const controller = new AbortController();
    const chunks = readChunks(memoryReader(randomBytes(5000)), {
      chunkSize: 1000,
      signal: controller.signal,
    });
    await chunks.next();
    controller.abort(new Error("stop"));
    await expect(chunks.next()).rejects.toThrow("stop");
  });
});
