/**
 * Helpers for this package's tests (not exported from `mod.ts`).
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import type { ReaderAt } from "./_oci.ts";
import { concat, paddingOf, type TarHeaderInit, tarEnd, tarHeader } from "./_tar.ts";

/** Reads a stream to the end. */
export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return Buffer.concat(parts);
}

/** A small deterministic PRNG (xorshift32), values in [0, 1). */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** `size` bytes that compress about 2-3x: words mixed with random runs. */
export function semiRandom(size: number, seed = 1): Uint8Array {
  const rand = prng(seed);
  const out = new Uint8Array(size);
  const words = [
    "layer",
    "blob",
    "snapshot",
    "lease",
    "content",
    "diff",
    "tar",
    "gzip",
    "zstd",
    "\n",
  ];
  for (let at = 0; at < size; ) {
    if (rand() < 0.7) {
      const w = words[Math.floor(rand() * words.length)] ?? "x";
      for (let i = 0; i < w.length && at < size; i++) out[at++] = w.charCodeAt(i);
      if (at < size) out[at++] = 0x20;
    } else {
      const n = 1 + Math.floor(rand() * 16);
      for (let i = 0; i < n && at < size; i++) out[at++] = Math.floor(rand() * 256);
    }
  }
  return out;
}

/** A stream of `bytes` cut into chunks of the given sizes (cycled). */
export async function* chunked(
  bytes: Uint8Array,
  sizes: readonly number[],
): AsyncGenerator<Uint8Array> {
  let i = 0;
  for (let at = 0; at < bytes.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length] ?? 1);
    // Copies, so no consumer can rely on sharing the caller's buffer.
    yield bytes.slice(at, at + n);
    at += n;
  }
}

/** A stream of `bytes` in random chunk sizes from 1 to `max`, pausing now and then. */
export async function* randomChunks(
  bytes: Uint8Array,
  seed: number,
  max = 70_000,
): AsyncGenerator<Uint8Array> {
  const rand = prng(seed);
  for (let at = 0; at < bytes.length; ) {
    const n = 1 + Math.floor(rand() * (rand() < 0.3 ? 64 : max));
    yield bytes.slice(at, at + n);
    at += n;
    if (rand() < 0.1) await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** A stream of one chunk. */
export async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/** Runs a CLI with `input` on stdin and returns its stdout. */
export function run(cmd: string, args: readonly string[], input: Uint8Array): Buffer {
  return execFileSync(cmd, args, { input, maxBuffer: 1 << 30 });
}

/** A ReaderAt over bytes in memory that records the ranges read. */
export function memReaderAt(
  bytes: Uint8Array,
): ReaderAt & { reads: Array<[number, number]>; bytesRead: number } {
  const reads: Array<[number, number]> = [];
  const r = {
    size: bytes.length,
    reads,
    bytesRead: 0,
    async readAt(buf: Uint8Array, offset: number): Promise<number> {
      const n = Math.max(0, Math.min(buf.length, bytes.length - offset));
      buf.set(bytes.subarray(offset, offset + n));
      reads.push([offset, n]);
      r.bytesRead += n;
      return n;
    },
    async close(): Promise<void> {},
  };
  return r;
}

/** One entry of {@link makeTar}. */
export interface TarFixtureEntry extends TarHeaderInit {
  body?: Uint8Array;
}

/** A tar archive in memory (our own writer), ended by two zero blocks. */
export function makeTar(entries: readonly TarFixtureEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const size = e.body?.length ?? 0;
    parts.push(tarHeader({ ...e, size }));
    if (e.body !== undefined) {
      parts.push(e.body);
      parts.push(new Uint8Array(paddingOf(e.body.length)));
    }
  }
  parts.push(tarEnd());
  return concat(parts);
}

/** A layer-like tar: directories, small and large files, links. */
export function sampleTar(bigSize = 300_000): Uint8Array {
  const enc = new TextEncoder();
  return makeTar([
    { name: "etc/", typeflag: "5", mode: 0o755, mtime: 1_700_000_000 },
    {
      name: "etc/hostname",
      typeflag: "0",
      body: enc.encode("strata\n"),
      mtime: 1_700_000_001,
      uid: 1000,
      gid: 1000,
      uname: "u",
      gname: "g",
    },
    { name: "etc/empty", typeflag: "0", body: new Uint8Array(0) },
    { name: "usr/lib/big.bin", typeflag: "0", body: semiRandom(bigSize, 7), mode: 0o755 },
    {
      name: `usr/share/${"long-directory-name/".repeat(8)}file.txt`,
      typeflag: "0",
      body: enc.encode("deep\n"),
    },
    { name: "usr/bin/sh", typeflag: "2", linkname: "busybox" },
    { name: "usr/bin/hard", typeflag: "1", linkname: "usr/lib/big.bin" },
    {
      name: "etc/xattr",
      typeflag: "0",
      body: enc.encode("x"),
      pax: { "SCHILY.xattr.user.k": "v" },
    },
  ]);
}
