import { randomFillSync } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { compress, decompress } from "@strata/compression";
import type { Benchmark, Prepared, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";
import { parseSize } from "../stats.ts";

/** The default input of the compression benchmarks: 256 MiB (the size is 500M). */
export const DEFAULT_COMPRESS_SIZE: number = 256 * 1024 * 1024;

const BLOCK = 64 * 1024;

/** A small deterministic generator (xorshift32), so inputs are the same on every run. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/**
 * Writes `size` bytes of semi-compressible data to `path` (gzip -6 makes it
 * about 45% of its size): in 64 KiB blocks, a quarter random bytes, half
 * text-like words from a small vocabulary, a quarter mostly zeros with
 * sparse noise, as in a layer of binaries, text and padding.
 */
export async function writeSemiCompressible(
  path: string,
  size: number,
  options?: { signal?: AbortSignal },
): Promise<void> {
  const next = xorshift(0x5eed);
  const letters = "etaoinshrdlcumwfgypbvkjxqz";
  const words: string[] = [];
  for (let i = 0; i < 512; i++) {
    let w = "";
    const len = 2 + (next() % 9);
    for (let j = 0; j < len; j++) w += letters[Math.min(next() % 26, next() % 26)];
    words.push(w);
  }
  // A 4 MiB corpus of text; text blocks copy a slice of it from a random offset.
  const corpusParts: string[] = [];
  let corpusLength = 0;
  while (corpusLength < 4 << 20) {
    const w = `${words[next() % words.length]}${next() % 11 === 0 ? ".\n" : " "}`;
    corpusParts.push(w);
    corpusLength += w.length;
  }
  const corpus = Buffer.from(corpusParts.join(""), "latin1");
  const block = Buffer.alloc(BLOCK);
  const fh = await open(path, "wx");
  try {
    for (let offset = 0, i = 0; offset < size; offset += BLOCK, i++) {
      options?.signal?.throwIfAborted();
      const kind = i % 4;
      if (kind === 0) {
        randomFillSync(block);
      } else if (kind === 3) {
        block.fill(0);
        for (let k = 0; k < 512; k++) block[next() % BLOCK] = next() & 0xff;
      } else {
        const start = next() % (corpus.length - BLOCK);
        corpus.copy(block, 0, start, start + BLOCK);
      }
      const part = block.subarray(0, Math.min(BLOCK, size - offset));
      await fh.write(part);
    }
  } finally {
    await fh.close();
  }
}

async function drain(source: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of source) n += chunk.length;
  return n;
}

function input(path: string, signal: AbortSignal | undefined): AsyncIterable<Uint8Array> {
  return createReadStream(path, {
    highWaterMark: 1 << 20,
    ...(signal === undefined ? {} : { signal }),
  });
}

/** A peer reading `file` and writing to /dev/null through the shell. */
function shellPeer(name: string, script: string, file: string): Side {
  return { name, command: { argv: ["sh", "-c", script, "sh", file] } };
}

function benchSize(): number {
  const env = process.env.STRATA_BENCH_SIZE;
  return env === undefined || env === "" ? DEFAULT_COMPRESS_SIZE : parseSize(env);
}

type Make = (
  dir: string,
  raw: string,
  signal: AbortSignal | undefined,
) => Promise<Omit<Prepared, "bytes" | "teardown">>;

function benchmark(name: string, description: string, make: Make): Benchmark {
  return {
    name,
    description,
    async setup(options) {
      const size = benchSize();
      const dir = await mkdtemp(join(process.env.STRATA_BENCH_DIR ?? tmpdir(), `strata-${name}-`));
      const teardown = () => rm(dir, { recursive: true, force: true });
      try {
        const raw = join(dir, "input.bin");
        await writeSemiCompressible(raw, size, options);
        return { bytes: size, ...(await make(dir, raw, options.signal)), teardown };
      } catch (err) {
        await teardown();
        throw err;
      }
    },
  };
}

async function available(sides: Array<[string, Side]>): Promise<Side[]> {
  const out: Side[] = [];
  for (const [program, side] of sides) if (await findProgram(program)) out.push(side);
  return out;
}

/** Compresses `raw` into `dir/<name>` with the real tool, for the decompression benchmarks. */
async function compressedInput(
  raw: string,
  to: string,
  compression: "gzip" | "zstd",
): Promise<void> {
  await pipeline(compress(input(raw, undefined), compression), createWriteStream(to));
}

/**
 * Compression and decompression of a semi-compressible file
 * (`STRATA_BENCH_SIZE`, default 256 MiB; the figure is `500M`),
 * `@strata/compression` in-process (read from the file, output counted and
 * dropped) against the C tools writing to /dev/null:
 *
 * - `compress-gzip`: Strata's parallel gzip (level 6, pigz's method on
 *   worker threads) vs `pigz -6` (all cores), `gzip -6`, and Strata's
 *   single-stream node:zlib gzip (`parallel: false`);
 * - `compress-zstd`: Strata zstd (level 3, node:zlib) vs `zstd -3 -T2` and `zstd -3 -T1`;
 * - `decompress-gzip`: Strata vs `pigz -d` and `gzip -d`;
 * - `decompress-zstd`: Strata vs `zstd -d`.
 */
export const compressBenchmarks: readonly Benchmark[] = [
  benchmark(
    "compress-gzip",
    "gzip -6 of semi-compressible data: strata (parallel) vs pigz / gzip / strata serial",
    async (_dir, raw) => ({
      strata: async (signal) => {
        await drain(compress(input(raw, signal), "gzip", signal ? { signal } : {}));
      },
      peers: [
        ...(await available([
          ["pigz", shellPeer("pigz", 'exec pigz -6 -c "$1" > /dev/null', raw)],
          ["gzip", shellPeer("gzip", 'exec gzip -6 -c "$1" > /dev/null', raw)],
        ])),
        {
          name: "strata-serial",
          command: async (signal) => {
            const o = { parallel: false, ...(signal ? { signal } : {}) };
            await drain(compress(input(raw, signal), "gzip", o));
          },
        },
      ],
    }),
  ),
  benchmark(
    "compress-zstd",
    "zstd -3 of semi-compressible data: strata vs zstd -T2 / zstd -T1",
    async (_dir, raw) => ({
      strata: async (signal) => {
        await drain(compress(input(raw, signal), "zstd", signal ? { signal } : {}));
      },
      peers: await available([
        ["zstd", shellPeer("zstd-T2", 'exec zstd -q -3 -T2 -c "$1" > /dev/null', raw)],
        ["zstd", shellPeer("zstd-T1", 'exec zstd -q -3 -T1 -c "$1" > /dev/null', raw)],
      ]),
    }),
  ),
  benchmark(
    "decompress-gzip",
    "gunzip of semi-compressible data: strata vs pigz -d / gzip -d",
    async (dir, raw) => {
      const gz = join(dir, "input.gz");
      await compressedInput(raw, gz, "gzip");
      return {
        strata: async (signal) => {
          await drain(decompress(input(gz, signal), signal ? { signal } : {}));
        },
        peers: await available([
          ["pigz", shellPeer("pigz-d", 'exec pigz -d -c "$1" > /dev/null', gz)],
          ["gzip", shellPeer("gzip-d", 'exec gzip -d -c "$1" > /dev/null', gz)],
        ]),
      };
    },
  ),
  benchmark(
    "decompress-zstd",
    "zstd -d of semi-compressible data: strata vs zstd -d",
    async (dir, raw) => {
      const zst = join(dir, "input.zst");
      await compressedInput(raw, zst, "zstd");
      return {
        strata: async (signal) => {
          await drain(decompress(input(zst, signal), signal ? { signal } : {}));
        },
        peers: await available([
          ["zstd", shellPeer("zstd-d", 'exec zstd -q -d -c "$1" > /dev/null', zst)],
        ]),
      };
    },
  ),
];
