import { gzipSync } from "node:zlib";
import { isDataLoss, isResourceExhausted } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { chunked, collect, once, randomChunks, run, semiRandom } from "./_testing.ts";
import { compress } from "./compress.ts";
import { decompress } from "./decompress.ts";

const data = semiRandom(600_000, 21);
const zstdCli = (args: string[], input: Uint8Array = data): Buffer =>
  run("zstd", ["-q", "-c", ...args], input);

async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a failure");
}

function skippable(payload: Uint8Array, low = 0x50): Uint8Array {
  const frame = new Uint8Array(8 + payload.length);
  frame.set([low, 0x2a, 0x4d, 0x18], 0);
  new DataView(frame.buffer).setUint32(4, payload.length, true);
  frame.set(payload, 8);
  return frame;
}

describe("decompress", () => {
  it("decodes what the zstd CLI writes, single- and multi-threaded, with --long", async () => {
    for (const args of [[], ["-19"], ["-T2", "--long"], ["-T2", "-1", "--no-check"]]) {
      const blob = zstdCli(args);
      expect(Buffer.compare(await collect(decompress(once(blob))), data), args.join(" ")).toBe(0);
    }
  });

  it("decodes every frame of concatenated zstd frames (nodejs/node#64741)", async () => {
    const parts = [
      data.subarray(0, 100_000),
      data.subarray(100_000, 100_001),
      data.subarray(100_001),
    ];
    const blob = Buffer.concat([
      zstdCli([], parts[0]),
      zstdCli(["--no-check"], parts[1]),
      zstdCli(["-5"], new Uint8Array(0)),
      zstdCli([], parts[2]),
    ]);
    for (const source of [once(blob), randomChunks(blob, 3), chunked(blob, [1, 2, 3, 5, 8])]) {
      expect(Buffer.compare(await collect(decompress(source)), data)).toBe(0);
    }
    // The CLI agrees.
    expect(Buffer.compare(run("zstd", ["-dcq"], blob), data)).toBe(0);
  });

  it("skips skippable frames anywhere in a zstd stream", async () => {
    const a = zstdCli([], data.subarray(0, 1000));
    const b = zstdCli([], data.subarray(1000));
    const blob = Buffer.concat([
      skippable(Uint8Array.of(1, 2, 3)),
      a,
      skippable(new Uint8Array(70_000), 0x5f),
      b,
      skippable(new Uint8Array(0)),
    ]);
    expect(Buffer.compare(await collect(decompress(randomChunks(blob, 8))), data)).toBe(0);
    expect(Buffer.compare(run("zstd", ["-dcq"], blob), data)).toBe(0);
  });

  it("decodes our own zstd with random chunkings of the compressed bytes", async () => {
    const blob = await collect(compress(once(data), "zstd"));
    for (let seed = 1; seed <= 4; seed++) {
      expect(Buffer.compare(await collect(decompress(randomChunks(blob, seed, 5000))), data)).toBe(
        0,
      );
    }
  });

  it("decodes multi-member gzip (as pigz or eStargz write it)", async () => {
    const blob = Buffer.concat([
      gzipSync(data.subarray(0, 5)),
      gzipSync(data.subarray(5, 300_000)),
      gzipSync(data.subarray(300_000)),
    ]);
    expect(Buffer.compare(await collect(decompress(randomChunks(blob, 4))), data)).toBe(0);
    const pigz = run("gzip", ["-c"], data);
    expect(Buffer.compare(await collect(decompress(once(pigz))), data)).toBe(0);
  });

  it("passes uncompressed input through", async () => {
    expect(Buffer.compare(await collect(decompress(chunked(data, [3, 1000]))), data)).toBe(0);
    expect((await collect(decompress(once(new Uint8Array(0))))).length).toBe(0);
    expect(
      Buffer.compare(await collect(decompress(once(Uint8Array.of(0x1f)))), Uint8Array.of(0x1f)),
    ).toBe(0);
  });

  it("fails with DataLossError on truncated zstd, wherever it is cut", async () => {
    const blob = Buffer.concat([
      zstdCli([], data.subarray(0, 50_000)),
      zstdCli([], data.subarray(50_000, 60_000)),
    ]);
    const firstFrame = zstdCli([], data.subarray(0, 50_000)).length;
    const cuts = [
      4,
      5,
      6,
      9,
      100,
      5000,
      firstFrame - 4,
      firstFrame - 1,
      firstFrame + 2,
      firstFrame + 7,
      blob.length - 1,
    ];
    for (const cut of cuts) {
      const err = await failure(collect(decompress(once(blob.subarray(0, cut)))));
      expect(isDataLoss(err), `cut at ${cut}: ${String(err)}`).toBe(true);
      expect(String((err as Error).message), `cut at ${cut}`).toMatch(/zstd stream truncated|zstd/);
    }
    const skip = skippable(new Uint8Array(100));
    expect(isDataLoss(await failure(collect(decompress(once(skip.subarray(0, 50))))))).toBe(true);
  });

  it("fails with DataLossError on truncated gzip", async () => {
    const blob = gzipSync(data);
    for (const cut of [3, 10, 11, 1000, blob.length - 8, blob.length - 1]) {
      const err = await failure(collect(decompress(once(blob.subarray(0, cut)))));
      expect(isDataLoss(err), `cut at ${cut}: ${String(err)}`).toBe(true);
      expect((err as Error).message).toMatch(/gzip stream/);
    }
  });

  it("fails with DataLossError on corrupt input", async () => {
    const gz = Buffer.from(gzipSync(data));
    gz[gz.length - 6] = (gz[gz.length - 6] ?? 0) ^ 0xff; // CRC
    expect(isDataLoss(await failure(collect(decompress(once(gz)))))).toBe(true);

    const zs = Buffer.from(zstdCli([]));
    zs[zs.length - 2] = (zs[zs.length - 2] ?? 0) ^ 0xff; // checksum
    expect(isDataLoss(await failure(collect(decompress(once(zs)))))).toBe(true);

    // Garbage after a gzip member is not a member (zero padding is tolerated, as by gzip).
    const gzTrailing = Buffer.concat([gzipSync(data), Buffer.from("garbage!")]);
    expect(isDataLoss(await failure(collect(decompress(once(gzTrailing)))))).toBe(true);

    // Garbage after a complete frame is not a frame.
    const trailing = Buffer.concat([zstdCli([]), Buffer.from("garbage!")]);
    const err = await failure(collect(decompress(once(trailing))));
    expect(isDataLoss(err)).toBe(true);
    expect((err as Error).message).toMatch(/no frame magic at offset/);

    // A reserved block type.
    const reserved = Buffer.from(zstdCli(["--no-check"], Uint8Array.of(1, 2, 3)));
    const headerEnd = reserved.length - 3 - 3; // raw block of 3 bytes at the end
    reserved[headerEnd] = ((reserved[headerEnd] ?? 0) | 0x06) >>> 0;
    expect(isDataLoss(await failure(collect(decompress(once(reserved)))))).toBe(true);
  });

  it("refuses output past maxBytes with ResourceExhaustedError (bombs)", async () => {
    const zeros = new Uint8Array(64 * 1024 * 1024);
    const gzBomb = gzipSync(zeros, { level: 9 });
    const zsBomb = zstdCli(["-19"], zeros);
    expect(zsBomb.length).toBeLessThan(10_000);
    for (const blob of [gzBomb, zsBomb, Buffer.concat([zsBomb, zsBomb])]) {
      const err = await failure(collect(decompress(once(blob), { maxBytes: 1_000_000 })));
      expect(isResourceExhausted(err), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/limit of 1000000 bytes/);
    }
    const plain = await failure(collect(decompress(once(data), { maxBytes: data.length - 1 })));
    expect(isResourceExhausted(plain)).toBe(true);
  });

  it("counts maxBytes across zstd frames and accepts output exactly at the bound", async () => {
    const blob = Buffer.concat([
      zstdCli([], data.subarray(0, 300_000)),
      zstdCli([], data.subarray(300_000)),
    ]);
    expect((await collect(decompress(once(blob), { maxBytes: data.length }))).length).toBe(
      data.length,
    );
    expect(
      isResourceExhausted(
        await failure(collect(decompress(once(blob), { maxBytes: data.length - 1 }))),
      ),
    ).toBe(true);
  });

  it("stops with the signal's reason when aborted", async () => {
    const blob = zstdCli([], semiRandom(3_000_000, 2));
    const controller = new AbortController();
    const reason = new Error("enough");
    let n = 0;
    const err = await failure(
      (async () => {
        for await (const _ of decompress(randomChunks(blob, 1), { signal: controller.signal })) {
          if (++n === 2) controller.abort(reason);
        }
      })(),
    );
    expect(err).toBe(reason);
  });

  it("passes the source's error through unchanged", async () => {
    const boom = new Error("network gone");
    const blob = zstdCli([]);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield blob.subarray(0, 1000);
      throw boom;
    }
    expect(await failure(collect(decompress(failing())))).toBe(boom);
  });
});
