import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Lease as LeaseMessage, LeaseSchema, type Leases } from "@strata/api/leases";
import { InvalidArgumentError } from "@strata/errdefs";
import type { Lease, LeaseManager } from "@strata/leases";
import { namespaceOf } from "./_context.ts";
import { mapErrors } from "./_errors.ts";

/** Where the leases service gets a namespace's leases. */
export interface LeasesBackend {
  /** The lease manager of `namespace`. */
  leases(namespace: string): LeaseManager;
}

function leaseMessage(lease: Lease): LeaseMessage {
  return create(LeaseSchema, {
    id: lease.id,
    createdAt: timestampFromDate(lease.createdAt),
    labels: lease.labels,
  });
}

function resourceOf(resource: { id: string; type: string } | undefined) {
  if (resource === undefined) throw new InvalidArgumentError("resource is required");
  return { id: resource.id, type: resource.type };
}

/** containerd.services.leases.v1.Leases over the metadata database. */
export function leasesService(backend: LeasesBackend): ServiceImpl<typeof Leases> {
  return {
    async create(req, ctx) {
      return mapErrors(async () => {
        const lease = await backend.leases(namespaceOf(ctx)).create({
          ...(req.id !== "" ? { id: req.id } : {}),
          labels: req.labels,
          signal: ctx.signal,
        });
        return { lease: leaseMessage(lease) };
      });
    },
    async delete(req, ctx) {
      return mapErrors(async () => {
        await backend
          .leases(namespaceOf(ctx))
          .delete({ id: req.id }, { sync: req.sync, signal: ctx.signal });
        return {};
      });
    },
    async list(req, ctx) {
      return mapErrors(async () => {
        const leases = await backend
          .leases(namespaceOf(ctx))
          .list({ filters: req.filters, signal: ctx.signal });
        return { leases: leases.map(leaseMessage) };
      });
    },
    async addResource(req, ctx) {
      return mapErrors(async () => {
        await backend
          .leases(namespaceOf(ctx))
          .addResource({ id: req.id }, resourceOf(req.resource), { signal: ctx.signal });
        return {};
      });
    },
    async deleteResource(req, ctx) {
      return mapErrors(async () => {
        await backend
          .leases(namespaceOf(ctx))
          .deleteResource({ id: req.id }, resourceOf(req.resource), { signal: ctx.signal });
        return {};
      });
    },
    async listResources(req, ctx) {
      return mapErrors(async () => {
        const resources = await backend
          .leases(namespaceOf(ctx))
          .listResources({ id: req.id }, { signal: ctx.signal });
        return { resources };
      });
    },
  };
}
