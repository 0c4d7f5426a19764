import { NotImplementedError } from "@strata/errdefs";
import type { CacheOps } from "../cache/cache_ops.ts";

const notYet = (what: string) => (): Promise<never> =>
  Promise.reject(
    new NotImplementedError(
      `${what} is not available through the daemon yet (run it with --root on the embedded root)`,
    ),
  );

/**
 * The {@link CacheOps} of a daemon session. Placeholder: every operation
 * fails with NotImplementedError until the daemon's Cache service serves
 * them.
 */
export function remoteCacheOps(): CacheOps {
  return {
    exportImage: notYet("image export"),
    importImage: notYet("image import"),
    refs: notYet("ref ls"),
    refInfo: notYet("ref info"),
    removeRefs: notYet("ref rm"),
    commitDirectory: notYet("commit"),
    diskUsage: notYet("du"),
    prune: notYet("prune"),
  };
}
