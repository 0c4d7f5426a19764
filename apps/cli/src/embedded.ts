import { defaultRoot, openRoot } from "@strata/core";
import type { BackendOpener } from "./cli.ts";

/**
 * Opens what the global options name: the daemon at `--address` when given,
 * else the embedded root (`--root`, `$STRATA_ROOT`, `$XDG_DATA_HOME/strata`).
 * The gRPC client is loaded only for a daemon.
 */
export const openBackend: BackendOpener = async ({ root, namespace, address }) => {
  if (address !== undefined) {
    const { connectDaemon } = await import("@strata/core/remote");
    return connectDaemon(address, { namespace });
  }
  return openRoot(root ?? defaultRoot(process.env), { namespace });
};
