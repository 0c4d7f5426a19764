import type { PruneOptions } from "./types.ts";

const GB = 1e9;
const HOUR = 60 * 60 * 1000;

/**
 * A percentage of a disk as BuildKit turns it into bytes: whole GiB rounded
 * down, plus one, times 10^9.
 */
export function diskPercentage(totalBytes: number, percent: number): number {
  return (Math.floor((totalBytes * percent) / 100 / 2 ** 30) + 1) * GB;
}

/**
 * BuildKit's default GC policies (Linux) for a disk of `totalBytes`
 * (unknown: 2 GB caps): (1) local sources, cache mounts and git checkouts
 * unused for 48 h, over 512 MB; (2) anything unused for 60 days; (3) the
 * global caps; (4) the global caps with `all`. Caps: reserved
 * min(10 %, 10 GB), max used min(80 %, 100 GB), min free 20 %.
 */
export function defaultGcPolicy(options: { totalBytes?: number } = {}): PruneOptions[] {
  const total = options.totalBytes;
  const reservedSpace = total === undefined ? 2 * GB : Math.min(diskPercentage(total, 10), 10 * GB);
  const maxUsedSpace = total === undefined ? 2 * GB : Math.min(diskPercentage(total, 80), 100 * GB);
  const caps: PruneOptions = { reservedSpace, maxUsedSpace };
  if (total !== undefined) caps.minFreeSpace = diskPercentage(total, 20);
  return [
    {
      filters: ["type==source.local", "type==exec.cachemount", "type==source.git.checkout"],
      keepDuration: 48 * HOUR,
      maxUsedSpace: 512 * 1e6,
    },
    { keepDuration: 60 * 24 * HOUR, ...caps },
    { ...caps },
    { all: true, ...caps },
  ];
}
