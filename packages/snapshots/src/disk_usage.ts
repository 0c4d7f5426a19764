import { lstat, opendir } from "node:fs/promises";
import { join } from "node:path";
import { fromSystemError } from "@strata/errdefs";
import type { Usage } from "./snapshotter.ts";

/** Options of {@link diskUsage}. */
export interface DiskUsageOptions {
  /** Inodes (`"dev:ino"`) not to count, e.g. files hardlinked from other snapshots. */
  exclude?: ReadonlySet<string>;
  signal?: AbortSignal;
}

// Directories read at once; enough to keep the thread pool busy.
const PARALLEL = 16;

/**
 * What a directory tree occupies, as containerd counts it: st_blocks × 512
 * and the number of unique inodes (a file with several links counts once),
 * the root directory included.
 *
 * @throws {NotFoundError} when `root` does not exist; other I/O errors by class.
 * @example
 * ```ts
 * const { size, inodes } = await diskUsage("/var/lib/strata/snapshots/overlayfs/snapshots/3/fs");
 * ```
 */
export async function diskUsage(root: string, options: DiskUsageOptions = {}): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0;
  const count = (dev: number, ino: number, blocks: number): void => {
    const id = `${dev}:${ino}`;
    if (seen.has(id) || options.exclude?.has(id)) return;
    seen.add(id);
    size += blocks * 512;
  };
  try {
    const top = await lstat(root);
    count(top.dev, top.ino, top.blocks);
    if (!top.isDirectory()) return { size, inodes: seen.size };
    let pending = [root];
    while (pending.length > 0) {
      options.signal?.throwIfAborted();
      const next: string[] = [];
      for (let i = 0; i < pending.length; i += PARALLEL) {
        await Promise.all(
          pending.slice(i, i + PARALLEL).map(async (dir) => {
            const stats: Promise<void>[] = [];
            for await (const entry of await opendir(dir, { bufferSize: 128 })) {
              const path = join(dir, entry.name);
              if (entry.isDirectory()) next.push(path);
              stats.push(lstat(path).then((s) => count(s.dev, s.ino, s.blocks)));
            }
            await Promise.all(stats);
          }),
        );
      }
      pending = next;
    }
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw fromSystemError(err, `cannot compute disk usage of ${root}`);
  }
  return { size, inodes: seen.size };
}
