import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  NativeSnapshotter,
  OverlaySnapshotter,
  type Snapshotter,
  withMounts,
} from "@strata/snapshots";
import { type BenchContainerd, startContainerd } from "../_containerd.ts";
import type { Benchmark, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";
import { parseSize } from "../stats.ts";
import { Teardown } from "../teardown.ts";

const run = promisify(execFile);

type Tree = "files" | "big";
type Name = "native" | "overlayfs";

const DEFAULT_FILES = 10_000;
const DEFAULT_BIG = 1 << 30;
const BIG_FILE = 128 << 20;

/** Writes the base tree: `count` 1 KiB files in 100 directories, or `bytes` in 128 MiB files. */
async function writeTree(dir: string, tree: Tree): Promise<number> {
  if (tree === "files") {
    const count = Number(process.env.STRATA_BENCH_FILES || DEFAULT_FILES);
    const body = Buffer.alloc(1024, "x");
    for (let d = 0; d < 100; d++) await mkdir(join(dir, `d${d}`), { recursive: true });
    for (let i = 0; i < count; i += 256) {
      await Promise.all(
        Array.from({ length: Math.min(256, count - i) }, (_, j) =>
          writeFile(join(dir, `d${(i + j) % 100}`, `f${i + j}`), body),
        ),
      );
    }
    return count * 1024;
  }
  const env = process.env.STRATA_BENCH_SIZE;
  const total = env ? parseSize(env) : DEFAULT_BIG;
  const chunk = Buffer.alloc(1 << 20);
  for (let i = 0, left = total; left > 0; i++, left -= BIG_FILE) {
    const size = Math.min(BIG_FILE, left);
    const file = join(dir, `big${i}`);
    await writeFile(file, "");
    for (let off = 0; off < size; off += chunk.length) {
      chunk.fill(i + off / chunk.length);
      await writeFile(file, chunk.subarray(0, Math.min(chunk.length, size - off)), { flag: "a" });
    }
  }
  return total;
}

// Fills a containerd snapshot through the mount command `ctr` prints.
async function fillContainerd(c: BenchContainerd, sn: Name, key: string, src: string, dir: string) {
  const printed = await c.ctr(["snapshots", "--snapshotter", sn, "mounts", "TARGET", key]);
  const target = await mkdtemp(join(dir, "mnt-"));
  const argv = printed.trim().replace(" TARGET ", ` ${target} `).split(" ");
  await run(argv[0] as string, argv.slice(1));
  try {
    await run("cp", ["-a", "-T", src, target]);
  } finally {
    await run("umount", [target]);
  }
}

function snapshotBenchmark(sn: Name, tree: Tree): Benchmark {
  return {
    name: `snapshot-${sn}-${tree}`,
    description: `prepare + commit on a ${tree === "files" ? "10,000-file" : "1 GiB big-file"} parent, ${sn}: strata vs ctr snapshots (containerd)`,
    async setup() {
      const dir = await mkdtemp(join(tmpdir(), `strata-bench-snap-${sn}-`));
      const cleanups = new Teardown([() => rm(dir, { recursive: true, force: true })], {
        bestEffort: true,
      });
      const teardown = cleanups.run;
      try {
        const src = join(dir, "tree");
        await mkdir(src);
        const bytes = await writeTree(src, tree);
        const open = sn === "native" ? NativeSnapshotter.open : OverlaySnapshotter.open;
        const strata: Snapshotter = await open(join(dir, "strata"));
        cleanups.add(() => strata.close());
        const base = await strata.prepare("base-active", "");
        await withMounts(base, (m) => run("cp", ["-a", "-T", src, m]).then(() => {}));
        await strata.commit("base", "base-active");

        const peers: Side[] = [];
        const containerd = (await findProgram("containerd")) ? await startContainerd() : undefined;
        if (containerd !== undefined) {
          cleanups.add(() => containerd.stop());
          const ctr = (...args: string[]) =>
            containerd.ctr(["snapshots", "--snapshotter", sn, ...args]);
          await ctr("prepare", "base-active", "");
          await fillContainerd(containerd, sn, "base-active", src, dir);
          await ctr("commit", "base", "base-active");
          peers.push({
            name: "ctr",
            command: {
              argv: [
                "sh",
                "-c",
                'ctr -a "$1" -n bench snapshots --snapshotter "$2" prepare child base && exec ctr -a "$1" -n bench snapshots --snapshotter "$2" commit child-c child',
                "sh",
                containerd.socket,
                sn,
              ],
            },
          });
        }
        return {
          bytes,
          strata: async (signal) => {
            const opts = signal === undefined ? {} : { signal };
            await strata.prepare("child", "base", opts);
            await strata.commit("child-c", "child", opts);
          },
          peers,
          async beforeRun(side) {
            if (side === "strata") {
              await strata.remove("child-c").catch(() => {});
              await strata.remove("child").catch(() => {});
            } else if (containerd !== undefined) {
              await containerd
                .ctr(["snapshots", "--snapshotter", sn, "rm", "child-c"])
                .catch(() => "");
              await containerd
                .ctr(["snapshots", "--snapshotter", sn, "rm", "child"])
                .catch(() => "");
              // Removal is finished by containerd's GC: run it now, untimed.
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
}

/**
 * `snapshot-{native,overlayfs}-{files,big}`: one prepare of a child of a
 * committed snapshot and its commit, in-process through Strata's
 * snapshotter versus `ctr snapshots prepare` + `commit` against a real
 * containerd with the same snapshotter (two short ctr runs, ~20 ms of
 * which is process start). The parent holds 10,000 1 KiB files
 * (`STRATA_BENCH_FILES`) or 1 GiB in 128 MiB files (`STRATA_BENCH_SIZE`).
 * native copies the parent on prepare; overlayfs should cost the same
 * whatever the tree.
 */
export const snapshotBenchmarks: readonly Benchmark[] = [
  snapshotBenchmark("native", "files"),
  snapshotBenchmark("overlayfs", "files"),
  snapshotBenchmark("native", "big"),
  snapshotBenchmark("overlayfs", "big"),
];
