import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { Introspection, PluginSchema } from "@strata/api/introspection";
import { objectAdaptor, parseFilters } from "@strata/filters";
import { mapErrors } from "./_errors.ts";

/** A plugin as Introspection reports it. */
export interface PluginInfo {
  /** containerd's plugin type ("io.containerd.snapshotter.v1", ...). */
  type: string;
  /** The plugin's id ("overlayfs", "native", "content", ...). */
  id: string;
  /** Capabilities, if any. */
  capabilities?: readonly string[];
}

/**
 * containerd.services.introspection.v1.Introspection: the plugins stratad
 * serves (filterable by `type` and `id`, as containerd's are) and the
 * server's identity.
 */
export function introspectionService(
  plugins: readonly PluginInfo[],
  uuid: string,
): ServiceImpl<typeof Introspection> {
  return {
    async plugins(req) {
      return mapErrors(async () => {
        const filter = parseFilters(req.filters);
        const out: MessageInitShape<typeof PluginSchema>[] = plugins
          .filter((p) => filter.match(objectAdaptor({ fields: { type: p.type, id: p.id } })))
          .map((p) => ({
            type: p.type,
            id: p.id,
            capabilities: [...(p.capabilities ?? [])],
            platforms: [
              { os: "linux", architecture: process.arch === "x64" ? "amd64" : process.arch },
            ],
          }));
        return { plugins: out };
      });
    },
    async server() {
      return { uuid, pid: BigInt(process.pid), pidns: 0n };
    },
  };
}
