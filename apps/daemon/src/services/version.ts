import type { ServiceImpl } from "@connectrpc/connect";
import type { Version } from "@strata/api/version";

/** The version stratad reports (`ctr version` prints it). */
export const STRATA_VERSION = "0.0.0";

/** containerd.services.version.v1.Version. */
export function versionService(revision: string): ServiceImpl<typeof Version> {
  return {
    async version() {
      return { version: `strata-${STRATA_VERSION}`, revision };
    },
  };
}
