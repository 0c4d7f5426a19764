import type { ServiceImpl } from "@connectrpc/connect";
import type { Namespaces } from "@strata/api/namespaces";
import { InvalidArgumentError } from "@strata/errdefs";
import type { NamespaceStore } from "@strata/metadata";
import { mapErrors } from "./_errors.ts";

/** containerd.services.namespaces.v1.Namespaces over the metadata database. */
export function namespacesService(store: NamespaceStore): ServiceImpl<typeof Namespaces> {
  const out = (ns: { name: string; labels: Record<string, string> }) => ({
    name: ns.name,
    labels: ns.labels,
  });
  return {
    async get(req) {
      return mapErrors(async () => ({ namespace: out(await store.get(req.name)) }));
    },
    async list() {
      return mapErrors(async () => ({ namespaces: (await store.list()).map(out) }));
    },
    async create(req) {
      return mapErrors(async () => {
        if (req.namespace === undefined) throw new InvalidArgumentError("namespace is required");
        const ns = await store.create(req.namespace.name, { labels: req.namespace.labels });
        return { namespace: out(ns) };
      });
    },
    async update(req) {
      return mapErrors(async () => {
        if (req.namespace === undefined) throw new InvalidArgumentError("namespace is required");
        const ns = await store.update(req.namespace.name, req.namespace.labels, {
          fieldpaths: req.updateMask?.paths ?? [],
        });
        return { namespace: out(ns) };
      });
    },
    async delete(req) {
      return mapErrors(async () => {
        await store.delete(req.name);
        return {};
      });
    },
  };
}
