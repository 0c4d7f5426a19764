// The image the image benchmarks move: five layers of files (half random,
// half text-like, so gzip has work of both kinds) committed as a chain of
// refs in a Strata root, and the same image written to an OCI layout by
// `strata image export` (which computes the gzip blobs once, untimed).
import { execFile } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { InvalidArgumentError } from "@strata/errdefs";
import { parseSize } from "../stats.ts";

const run = promisify(execFile);

/** The repository's `bin/strata`. */
export const STRATA_BIN: string = join(
  import.meta.dirname,
  "..",
  "..",
  "..",
  "..",
  "bin",
  "strata",
);

/** Default image size: 500 MB of files over all layers (`STRATA_BENCH_SIZE` overrides). */
export const DEFAULT_IMAGE_SIZE: number = 500 * 1000 * 1000;

/** Layers in the image. */
export const IMAGE_LAYERS = 5;

/** What {@link makeBenchImage} made. */
export interface BenchImage {
  /** The Strata root that holds the refs (and the gzip blobs). */
  root: string;
  /** The top ref's id. */
  top: string;
  /** An OCI layout with the image tagged `v1`. */
  layout: string;
  /** The image manifest's digest. */
  manifestDigest: string;
  /** Bytes of file content in all layers. */
  bytes: number;
}

/** The image size from `STRATA_BENCH_SIZE` (or the default). */
export function imageSize(): number {
  const env = process.env.STRATA_BENCH_SIZE;
  const size = env === undefined || env === "" ? DEFAULT_IMAGE_SIZE : parseSize(env);
  if (size < IMAGE_LAYERS) throw new InvalidArgumentError(`image size ${size} is too small`);
  return size;
}

/** Runs `strata --root ROOT ...` and returns its last output line. */
export async function strataLastLine(root: string, args: readonly string[]): Promise<string> {
  const { stdout } = await run(STRATA_BIN, ["--root", root, ...args], { maxBuffer: 16 << 20 });
  return stdout.trim().split("\n").at(-1)?.trim() ?? "";
}

const FILE_MAX = 8 << 20;

async function writeFileOf(path: string, size: number, random: boolean): Promise<void> {
  const fd = await open(path, "wx");
  try {
    const chunk = Buffer.alloc(Math.min(size, 1 << 20));
    if (!random) {
      const line = Buffer.from(`${path} a line of text that compresses well, more or less\n`);
      for (let at = 0; at < chunk.length; at += line.length) line.copy(chunk, at);
    }
    for (let left = size; left > 0; left -= chunk.length) {
      if (random) randomFillSync(chunk);
      await fd.write(chunk, 0, Math.min(left, chunk.length));
    }
  } finally {
    await fd.close();
  }
}

/** Files of at most 8 MiB adding up to `size`, alternating random and text-like. */
async function writeLayerDir(dir: string, size: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  let i = 0;
  for (let left = size; left > 0; i++) {
    const n = Math.min(left, FILE_MAX);
    const sub = join(dir, `d${Math.floor(i / 16)}`);
    if (i % 16 === 0) await mkdir(sub);
    await writeFileOf(join(sub, `f${i}.bin`), n, i % 2 === 0);
    left -= n;
  }
}

/**
 * Writes the five layer directories under `work`, commits them as a chain of
 * refs in a Strata root there, and exports the top ref to an OCI layout
 * (gzip). The layer directories are removed afterwards.
 */
export async function makeBenchImage(
  work: string,
  size: number,
  options: { signal?: AbortSignal } = {},
): Promise<BenchImage> {
  const root = join(work, "strata-root");
  const layout = join(work, "layout");
  let parent: string | undefined;
  for (let l = 0; l < IMAGE_LAYERS; l++) {
    options.signal?.throwIfAborted();
    const dir = join(work, `layer${l}`);
    const share = Math.floor(size / IMAGE_LAYERS) + (l === 0 ? size % IMAGE_LAYERS : 0);
    await writeLayerDir(join(dir, `layer${l}`), share);
    const args = ["commit", dir, ...(parent === undefined ? [] : ["--parent", parent])];
    parent = await strataLastLine(root, args);
    await rm(dir, { recursive: true, force: true });
  }
  const top = parent as string;
  const manifestDigest = await strataLastLine(root, [
    "image",
    "export",
    top,
    "--to",
    `oci:${layout}:v1`,
  ]);
  if (!/^sha256:[0-9a-f]{64}$/.test(manifestDigest)) {
    throw new InvalidArgumentError(
      `strata image export printed ${JSON.stringify(manifestDigest)}, not a digest`,
    );
  }
  return { root, top, layout, manifestDigest, bytes: size };
}
