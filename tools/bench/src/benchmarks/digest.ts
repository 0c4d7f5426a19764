import { createHash, randomFillSync } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Benchmark, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";
import { parseSize } from "../stats.ts";

/** The default input size of the digest benchmark: 1 GiB. */
export const DEFAULT_DIGEST_SIZE: number = 1024 ** 3;

const CHUNK = 4 << 20;

/**
 * Writes `size` bytes of incompressible data to `path`, streaming, and
 * returns their sha256 hex (computed while writing, so no extra pass).
 */
export async function writeInput(
  path: string,
  size: number,
  options?: { signal?: AbortSignal },
): Promise<string> {
  const block = randomFillSync(Buffer.alloc(Math.min(CHUNK, size)));
  const hash = createHash("sha256");
  const fh = await open(path, "wx");
  try {
    for (let offset = 0, i = 0; offset < size; offset += block.length, i++) {
      options?.signal?.throwIfAborted();
      // Vary each block so that no two chunks of the file are equal.
      if (block.length >= 8) block.writeBigUInt64LE(BigInt(i), 0);
      const part = block.subarray(0, Math.min(block.length, size - offset));
      hash.update(part);
      await fh.write(part);
    }
  } finally {
    await fh.close();
  }
  return hash.digest("hex");
}

/**
 * `digest`: sha256 of a file (1 GiB, or `STRATA_BENCH_SIZE`), by Strata's
 * streaming digest script versus `sha256sum` and `openssl dgst -sha256`.
 */
export const digestBenchmark: Benchmark = {
  name: "digest",
  description: "sha256 of a file: node streaming digest vs sha256sum / openssl",
  async setup(options) {
    const envSize = process.env.STRATA_BENCH_SIZE;
    const size = envSize === undefined || envSize === "" ? DEFAULT_DIGEST_SIZE : parseSize(envSize);
    const dir = await mkdtemp(join(tmpdir(), "strata-bench-digest-"));
    const teardown = () => rm(dir, { recursive: true, force: true });
    try {
      const file = join(dir, "input.bin");
      const hex = await writeInput(file, size, options);
      const peers: Side[] = [];
      const sha256sum = await findProgram("sha256sum");
      if (sha256sum !== undefined) {
        peers.push({ name: "sha256sum", command: { argv: [sha256sum, file], expectOutput: hex } });
      }
      const openssl = await findProgram("openssl");
      if (openssl !== undefined) {
        peers.push({
          name: "openssl",
          command: { argv: [openssl, "dgst", "-sha256", file], expectOutput: hex },
        });
      }
      const script = join(import.meta.dirname, "../bin/digest.ts");
      return {
        bytes: size,
        strata: { argv: [process.execPath, script, file], expectOutput: hex },
        peers,
        teardown,
      };
    } catch (err) {
      await teardown();
      throw err;
    }
  },
};
