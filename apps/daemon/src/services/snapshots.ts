import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { type Mount as MountMessage, MountSchema } from "@strata/api";
import { type Info as InfoMessage, InfoSchema, Kind, type Snapshots } from "@strata/api/snapshots";
import { InvalidArgumentError, NotImplementedError } from "@strata/errdefs";
import {
  isCleaner,
  type Mount,
  type SnapshotInfo,
  type SnapshotKind,
  type Snapshotter,
} from "@strata/snapshots";
import { hasNamespace, leaseOf, listBatches, namespaceOf } from "./_context.ts";
import { mapErrors, toConnectError } from "./_errors.ts";

/** Where the snapshots service gets a namespace's snapshotters. */
export interface SnapshotsBackend {
  /** The names of the loaded snapshotters. */
  readonly snapshotterNames: readonly string[];
  /** Snapshotter `name` of `namespace`, recording new snapshots in `lease` when given. */
  snapshotter(namespace: string, name: string, options?: { lease?: string }): Snapshotter;
  /**
   * The backend snapshotter `name` itself, without namespaces or metadata,
   * for calls that carry no namespace: containerd using Strata as a proxy
   * snapshotter keeps the records itself and calls the backend bare.
   * Without it, such calls are refused (InvalidArgument: no namespace).
   */
  backend?(name: string): Promise<Snapshotter>;
}

// containerd's server sends List in batches of this many records.

const KIND_TO_WIRE: Record<SnapshotKind, Kind> = {
  view: Kind.VIEW,
  active: Kind.ACTIVE,
  committed: Kind.COMMITTED,
};

function infoMessage(info: SnapshotInfo): InfoMessage {
  return create(InfoSchema, {
    name: info.name,
    parent: info.parent,
    kind: KIND_TO_WIRE[info.kind],
    createdAt: timestampFromDate(info.created),
    updatedAt: timestampFromDate(info.updated),
    labels: info.labels,
  });
}

function mountMessages(mounts: readonly Mount[]): MountMessage[] {
  return mounts.map((m) =>
    create(MountSchema, { type: m.type, source: m.source, target: "", options: m.options }),
  );
}

async function snapshotterOf(
  backend: SnapshotsBackend,
  ctx: HandlerContext,
  name: string,
): Promise<Snapshotter> {
  if (name === "") throw new InvalidArgumentError("snapshotter argument missing");
  if (!hasNamespace(ctx) && backend.backend !== undefined) {
    return backend.backend(name);
  }
  if (!backend.snapshotterNames.includes(name)) {
    throw new InvalidArgumentError(`snapshotter not loaded: ${name}`);
  }
  const lease = leaseOf(ctx);
  return backend.snapshotter(namespaceOf(ctx), name, lease === undefined ? {} : { lease });
}

/**
 * containerd.services.snapshots.v1.Snapshots over namespaced snapshotters,
 * as containerd's server answers: the snapshotter named in each request,
 * InvalidArgument when it is missing or not loaded, List in batches of 100,
 * Cleanup where the snapshotter can clean up (NotImplemented otherwise).
 * Calls without a namespace go to {@link SnapshotsBackend.backend} when the
 * daemon serves as a proxy snapshotter.
 */
export function snapshotsService(backend: SnapshotsBackend): ServiceImpl<typeof Snapshots> {
  const of = (ctx: HandlerContext, name: string) => snapshotterOf(backend, ctx, name);
  return {
    async prepare(req, ctx) {
      return mapErrors(async () => {
        const sn = await of(ctx, req.snapshotter);
        const mounts = await sn.prepare(req.key, req.parent, {
          labels: req.labels,
          signal: ctx.signal,
        });
        return { mounts: mountMessages(mounts) };
      });
    },
    async view(req, ctx) {
      return mapErrors(async () => {
        const sn = await of(ctx, req.snapshotter);
        const mounts = await sn.view(req.key, req.parent, {
          labels: req.labels,
          signal: ctx.signal,
        });
        return { mounts: mountMessages(mounts) };
      });
    },
    async mounts(req, ctx) {
      return mapErrors(async () => {
        const sn = await of(ctx, req.snapshotter);
        return { mounts: mountMessages(await sn.mounts(req.key, { signal: ctx.signal })) };
      });
    },
    async commit(req, ctx) {
      return mapErrors(async () => {
        const sn = await of(ctx, req.snapshotter);
        if (req.parent !== "") {
          // containerd 2.2+ lets Commit name the parent; check it matches.
          const info = await sn.stat(req.key, { signal: ctx.signal });
          if (info.parent !== req.parent) {
            throw new InvalidArgumentError(
              `cannot commit ${JSON.stringify(req.key)}: its parent is ${JSON.stringify(info.parent)}, not ${JSON.stringify(req.parent)}`,
            );
          }
        }
        await sn.commit(req.name, req.key, { labels: req.labels, signal: ctx.signal });
        return {};
      });
    },
    async remove(req, ctx) {
      return mapErrors(async () => {
        await (await of(ctx, req.snapshotter)).remove(req.key, { signal: ctx.signal });
        return {};
      });
    },
    async stat(req, ctx) {
      return mapErrors(async () => {
        const sn = await of(ctx, req.snapshotter);
        return { info: infoMessage(await sn.stat(req.key, { signal: ctx.signal })) };
      });
    },
    async update(req, ctx) {
      return mapErrors(async () => {
        if (req.info === undefined) throw new InvalidArgumentError("update: info is required");
        const sn = await of(ctx, req.snapshotter);
        const info = await sn.update(
          { name: req.info.name, labels: req.info.labels },
          { fieldpaths: req.updateMask?.paths ?? [], signal: ctx.signal },
        );
        return { info: infoMessage(info) };
      });
    },
    async *list(req, ctx) {
      let out: InfoMessage[][];
      try {
        const sn = await of(ctx, req.snapshotter);
        out = await listBatches((add) =>
          sn.walk((info) => add(infoMessage(info)), { filters: req.filters, signal: ctx.signal }),
        );
      } catch (err) {
        throw toConnectError(err);
      }
      for (const info of out) yield { info };
    },
    async usage(req, ctx) {
      return mapErrors(async () => {
        const sn = await of(ctx, req.snapshotter);
        const usage = await sn.usage(req.key, { signal: ctx.signal });
        return { size: BigInt(usage.size), inodes: BigInt(usage.inodes) };
      });
    },
    async cleanup(req, ctx) {
      return mapErrors(async () => {
        const sn = await of(ctx, req.snapshotter);
        if (!isCleaner(sn)) {
          throw new NotImplementedError(`snapshotter ${req.snapshotter} has no cleanup`);
        }
        await sn.cleanup({ signal: ctx.signal });
        return {};
      });
    },
  };
}
