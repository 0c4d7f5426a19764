/**
 * Benchmarks gzip and zstd on one 256 MiB semi-compressible file: node:zlib
 * gzip, the parallel (pigz-style) gzip, `gzip -c`, `pigz -c`; this package's
 * zstd and the `zstd` CLI; and decompression of each. Prints one line per
 * variant (seconds, MB/s, output size, ratio to node:zlib gzip).
 *
 *   node packages/compression/bench/gzip.ts [--size-mib 256] [--runs 1] [--dir /tmp/strata-bench]
 *
 * Peers that are not on PATH are reported as skipped.
 *
 * @module
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  closeSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  statSync,
  writeSync,
} from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import { compress } from "../src/compress.ts";
import { decompress } from "../src/decompress.ts";

const { values } = parseArgs({
  options: {
    "size-mib": { type: "string", default: "256" },
    runs: { type: "string", default: "1" },
    dir: { type: "string", default: "/tmp/strata-bench" },
  },
});
const sizeMiB = Number(values["size-mib"]);
const runs = Number(values.runs);
const dir = values.dir;
mkdirSync(dir, { recursive: true });
const input = join(dir, `semi-${sizeMiB}M.bin`);

// A deterministic mix of 4 KiB pieces: word salad (compresses ~4x), base64 of
// random bytes (~1.3x), raw random bytes (1x) and zeros, like a layer of text,
// binaries and already-compressed files.
function makeInput(): void {
  if (existsSync(input) && statSync(input).size === sizeMiB * 2 ** 20) return;
  let seed = 0x9e3779b9;
  const rand = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const words = Array.from({ length: 2000 }, () =>
    Array.from({ length: 2 + Math.floor(rand() * 9) }, () =>
      String.fromCharCode(97 + Math.floor(rand() * 26)),
    ).join(""),
  );
  const fd = openSync(input, "w");
  const piece = Buffer.alloc(4096);
  const b64 = Buffer.alloc(3072);
  for (let at = 0; at < sizeMiB * 2 ** 20; at += piece.length) {
    const kind = rand();
    if (kind < 0.45) {
      let s = "";
      while (s.length < piece.length)
        s += `${words[Math.floor(rand() * words.length)]}${rand() < 0.1 ? ".\n" : " "}`;
      piece.write(s.slice(0, piece.length), "latin1");
    } else if (kind < 0.75) {
      for (let i = 0; i < b64.length; i++) b64[i] = Math.floor(rand() * 256);
      piece.write(b64.toString("base64"), "latin1");
    } else if (kind < 0.92) {
      for (let i = 0; i < piece.length; i++) piece[i] = Math.floor(rand() * 256);
    } else {
      piece.fill(0);
    }
    writeSync(fd, piece);
  }
  closeSync(fd);
}

function have(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

interface Row {
  name: string;
  seconds: number;
  out: number;
}

async function timeIt(name: string, fn: () => Promise<string>): Promise<Row> {
  let best = Number.POSITIVE_INFINITY;
  let outFile = "";
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    outFile = await fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return { name, seconds: best, out: statSync(outFile).size };
}

function shell(cmd: string, out: string): Promise<string> {
  execFileSync("sh", ["-c", `${cmd} > ${out}`]);
  return Promise.resolve(out);
}

async function ours(stream: AsyncIterable<Uint8Array>, out: string): Promise<string> {
  await pipeline(stream, createWriteStream(out));
  return out;
}

makeInput();
const inSize = statSync(input).size;
const o = (n: string): string => join(dir, n);
const rows: Row[] = [];
const print = (r: Row): void => {
  const mbs = inSize / 1e6 / r.seconds;
  console.log(
    `${r.name.padEnd(34)} ${r.seconds.toFixed(2).padStart(7)} s ${mbs.toFixed(1).padStart(7)} MB/s ${String(r.out).padStart(11)} bytes (${((100 * r.out) / inSize).toFixed(1)}%)`,
  );
};
console.log(
  `input ${input}: ${inSize} bytes; ${availableParallelism()} CPUs; UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}; node ${process.version}`,
);
console.log("-- compress (level 6 gzip, level 3 zstd)");
const add = async (name: string, fn: () => Promise<string>): Promise<void> => {
  const r = await timeIt(name, fn);
  rows.push(r);
  print(r);
};
await add("node:zlib gzip (1 stream)", () =>
  ours(compress(createReadStream(input), "gzip", { parallel: false }), o("nodezlib.gz")),
);
await add("parallel gzip (pigz method)", () =>
  ours(compress(createReadStream(input), "gzip", { parallel: true }), o("parallel.gz")),
);
if (have("gzip")) await add("gzip -6 -c", () => shell(`gzip -6 -c ${input}`, o("cli.gz")));
if (have("pigz"))
  await add("pigz -6 -c (-p 2)", () => shell(`pigz -6 -p 2 -c ${input}`, o("pigz.gz")));
await add("node:zlib zstd -3 (this package)", () =>
  ours(compress(createReadStream(input), "zstd", { level: 3 }), o("ours.zst")),
);
if (have("zstd")) {
  await add("zstd -3 -c (1 thread)", () => shell(`zstd -q -3 -c ${input}`, o("cli.zst")));
  await add("zstd -3 -T0 -c", () => shell(`zstd -q -3 -T0 -c ${input}`, o("cli-t0.zst")));
}
console.log("-- decompress (MB/s of uncompressed output)");
await add("decompress(parallel.gz)", () =>
  ours(decompress(createReadStream(o("parallel.gz"))), o("d1")),
);
if (have("gzip"))
  await add("gzip -dc parallel.gz", () => shell(`gzip -dc ${o("parallel.gz")}`, o("d2")));
if (have("pigz"))
  await add("unpigz -c parallel.gz", () => shell(`pigz -dc ${o("parallel.gz")}`, o("d3")));
await add("decompress(ours.zst)", () => ours(decompress(createReadStream(o("ours.zst"))), o("d4")));
if (have("zstd")) {
  await add("zstd -dc ours.zst", () => shell(`zstd -q -dc ${o("ours.zst")}`, o("d5")));
  await add("decompress(cli-t0.zst)", () =>
    ours(decompress(createReadStream(o("cli-t0.zst"))), o("d6")),
  );
}
// Every output must decode to the input.
for (const f of ["nodezlib.gz", "parallel.gz"])
  execFileSync("sh", ["-c", `gzip -dc ${o(f)} | cmp -s - ${input}`]);
for (const f of ["d1", "d4"]) execFileSync("cmp", ["-s", o(f), input]);
const base = rows.find((r) => r.name.startsWith("node:zlib gzip"));
const par = rows.find((r) => r.name.startsWith("parallel gzip"));
if (base !== undefined && par !== undefined) {
  console.log(
    `parallel / node:zlib gzip speed-up: ${(base.seconds / par.seconds).toFixed(2)}x; size ${((100 * par.out) / base.out).toFixed(1)}%`,
  );
}
