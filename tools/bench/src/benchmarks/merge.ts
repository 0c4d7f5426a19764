import { createWriteStream, writeFileSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { diffDirectories, type MergeDiff, mergeSnapshots } from "@strata/diff";
import { FailedPreconditionError } from "@strata/errdefs";
import {
  NativeSnapshotter,
  OverlaySnapshotter,
  type Snapshotter,
  withMounts,
} from "@strata/snapshots";
import type { Benchmark, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";
import { Teardown } from "../teardown.ts";
import { benchDir, benchFiles, generateTree } from "./diff_walk.ts";

/** Files in each of the three merged layers (`STRATA_BENCH_FILES`). */
export const DEFAULT_MERGE_FILES = 10_000;

const LAYERS = ["A", "B", "C"] as const;

function mergeBenchmark(kind: "native" | "overlayfs"): Benchmark {
  return {
    name: `merge-${kind}`,
    description: `merge of 3 layers of small files, ${kind}: strata mergeSnapshots vs cp -a / cp -al / tar -xpf into one dir`,
    async setup(options) {
      const files = benchFiles(DEFAULT_MERGE_FILES);
      const work = await mkdtemp(join(benchDir(), `strata-bench-merge-${kind}-`));
      const cleanups = new Teardown([() => rm(work, { recursive: true, force: true })], {
        bestEffort: true,
      });
      const teardown = cleanups.run;
      try {
        const open = kind === "native" ? NativeSnapshotter.open : OverlaySnapshotter.open;
        const sn: Snapshotter = await open(join(work, "snapshots"));
        cleanups.add(() => sn.close());
        // Three unrelated layers: each its own files (the generator's tree
        // under layer-<X>/), all rewriting one shared file.
        const dirs: string[] = [];
        const tars: string[] = [];
        for (const name of LAYERS) {
          const mounts = await sn.prepare(`${name}-active`, "", options);
          await withMounts(mounts, async (dir) => {
            generateTree(join(dir, `layer-${name}`), files, options);
            writeFileSync(join(dir, "shared"), `written by ${name}\n`);
          });
          await sn.commit(name, `${name}-active`);
          const view = await sn.view(`${name}-view`, name);
          const source = view[0]?.source;
          if (view.length !== 1 || view[0]?.type !== "bind" || source === undefined) {
            throw new FailedPreconditionError(
              `unexpected view of ${name}: ${JSON.stringify(view)}`,
            );
          }
          dirs.push(source);
          const tar = join(work, `${name}.tar`);
          await pipeline(diffDirectories(undefined, source), createWriteStream(tar));
          tars.push(tar);
        }
        const diffs: MergeDiff[] = LAYERS.map((upper) => ({ lower: "", upper }));
        const target = join(work, "target");
        const peers: Side[] = [
          { name: "cp-a", command: { argv: ["cp", "-a", ...dirs.map((d) => `${d}/.`), target] } },
          {
            name: "cp-al",
            command: { argv: ["cp", "-al", ...dirs.map((d) => `${d}/.`), target] },
          },
        ];
        if (await findProgram("tar")) {
          peers.push({
            name: "tar-xpf",
            command: {
              argv: [
                "sh",
                "-c",
                'for t in "$@"; do tar -xpf "$t" -C "$0" || exit 1; done',
                target,
                ...tars,
              ],
            },
          });
        }
        let round = 0;
        let last = "";
        return {
          strata: async (signal) => {
            last = `merged-${round++}`;
            const { info } = await mergeSnapshots(sn, last, diffs, signal ? { signal } : {});
            if (info.kind !== "committed") {
              throw new FailedPreconditionError(`merge gave a ${info.kind} snapshot`);
            }
          },
          peers,
          async beforeRun() {
            if (last !== "") await sn.remove(last).catch(() => {});
            await rm(target, { recursive: true, force: true });
            await mkdir(target);
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
 * `merge-{native,overlayfs}`: `mergeSnapshots` of three unrelated committed
 * snapshots of `STRATA_BENCH_FILES` small files each (default 10,000; 0-4
 * KiB), in-process, against copying the three trees in order into one
 * directory with `cp -a`, hardlinking them with `cp -al` (what the merge
 * does for files) and unpacking the three layer tars in order with
 * `tar -xpf`. On overlayfs the first layer becomes the parent (base
 * skipping), so only two are applied. The merged snapshot is removed
 * before each run, untimed.
 */
export const mergeBenchmarks: readonly Benchmark[] = [
  mergeBenchmark("native"),
  mergeBenchmark("overlayfs"),
];
