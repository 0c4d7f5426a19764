import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startContainerd } from "../_containerd.ts";
import type { Benchmark, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";
import { parseSize } from "../stats.ts";
import { Teardown } from "../teardown.ts";
import { DEFAULT_DIGEST_SIZE, writeInput } from "./digest.ts";

const repo = join(import.meta.dirname, "..", "..", "..", "..");

/**
 * `ingest`: a file (1 GiB, or `STRATA_BENCH_SIZE`) into the content store —
 * `strata content ingest FILE` on a fresh embedded root (hashed, written,
 * fsynced, committed by rename) — versus only hashing it with `sha256sum`
 * and `openssl dgst -sha256`, and versus `ctr content ingest` into a real
 * containerd started here. Before each run the previous blob is removed
 * (untimed), so every run stores the whole file.
 */
export const ingestBenchmark: Benchmark = {
  name: "ingest",
  description: "content ingest of a file: strata vs sha256sum / openssl / ctr (containerd)",
  async setup(options) {
    const envSize = process.env.STRATA_BENCH_SIZE;
    const size = envSize === undefined || envSize === "" ? DEFAULT_DIGEST_SIZE : parseSize(envSize);
    const dir = await mkdtemp(join(tmpdir(), "strata-bench-ingest-"));
    const cleanups = new Teardown([() => rm(dir, { recursive: true, force: true })]);
    const teardown = cleanups.run;
    try {
      const file = join(dir, "input.bin");
      const hex = await writeInput(file, size, options);
      const digest = `sha256:${hex}`;
      const root = join(dir, "strata-root");
      const peers: Side[] = [];
      for (const [name, argv] of [
        ["sha256sum", ["sha256sum", file]],
        ["openssl", ["openssl", "dgst", "-sha256", file]],
      ] as const) {
        const path = await findProgram(name);
        if (path !== undefined) {
          peers.push({ name, command: { argv: [path, ...argv.slice(1)], expectOutput: hex } });
        }
      }
      const containerd = (await findProgram("containerd")) ? await startContainerd() : undefined;
      if (containerd !== undefined) {
        cleanups.add(() => containerd.stop());
        peers.push({
          name: "ctr-ingest",
          command: {
            argv: [
              "sh",
              "-c",
              'exec ctr -a "$1" -n bench content ingest bench-ref < "$2"',
              "sh",
              containerd.socket,
              file,
            ],
          },
        });
      }
      return {
        bytes: size,
        strata: {
          argv: [
            join(repo, "bin", "strata"),
            "--root",
            root,
            "content",
            "ingest",
            "--ref",
            "bench-ref",
            file,
          ],
          expectOutput: digest,
        },
        peers,
        async beforeRun(side) {
          if (side === "strata") await rm(root, { recursive: true, force: true });
          if (side === "ctr-ingest" && containerd !== undefined) {
            // ctr's ingests are unleased: remove the record and force a GC.
            await containerd.ctr(["content", "rm", digest]).catch(() => "");
            await containerd.ctr(["leases", "create", "--id", "bench-gc"]);
            await containerd.ctr(["leases", "rm", "--sync", "bench-gc"]);
          }
        },
        teardown,
      };
    } catch (err) {
      await teardown();
      throw err;
    }
  },
};
