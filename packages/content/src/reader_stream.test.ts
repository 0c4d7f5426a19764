import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import type { ReaderAt } from "./content.ts";
import { readerStream } from "./reader_stream.ts";

function memoryReader(data: Uint8Array, maxPerRead = Infinity): ReaderAt {
  return {
    size: data.length,
    async readAt(buffer, offset) {
      const part = data.subarray(offset, offset + Math.min(buffer.length, maxPerRead));
      buffer.set(part);
      return part.length;
    },
    async close() {},
  };
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<number[][]> {
  const out: number[][] = [];
  for await (const chunk of it) out.push([...chunk]);
  return out;
}

describe("readerStream", () => {
  const data = new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

  it("yields fresh chunks from an offset to the end", async () => {
    expect(await collect(readerStream(memoryReader(data), { chunkSize: 4 }))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
    expect(await collect(readerStream(memoryReader(data), { offset: 7 }))).toEqual([[7, 8, 9]]);
    expect(await collect(readerStream(memoryReader(data), { offset: 10 }))).toEqual([]);
  });

  it("copes with short reads", async () => {
    const chunks = await collect(readerStream(memoryReader(data, 3), { chunkSize: 8 }));
    expect(chunks.flat()).toEqual([...data]);
  });

  it("rejects bad offsets and chunk sizes", async () => {
    await expect(collect(readerStream(memoryReader(data), { offset: 11 }))).rejects.toSatisfy(
      isInvalidArgument,
    );
    await expect(collect(readerStream(memoryReader(data), { chunkSize: 0 }))).rejects.toSatisfy(
      isInvalidArgument,
    );
  });

  it("stops when the signal aborts", async () => {
    const ac = new AbortController();
    const chunks: Uint8Array[] = [];
    await expect(
      (async () => {
        for await (const chunk of readerStream(memoryReader(data), {
          chunkSize: 2,
          signal: ac.signal,
        })) {
          chunks.push(chunk);
          ac.abort();
        }
      })(),
    ).rejects.toThrow(/abort/i);
    expect(chunks).toHaveLength(1);
  });
});
