import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema, timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import type { Mount as MountMessage } from "@strata/api";
import { type Info as InfoMessage, InfoSchema, Kind, Snapshots } from "@strata/api/snapshots";
import { DataLossError } from "@strata/errdefs";
import type {
  Cleaner,
  CommitOptions,
  Mount,
  PrepareOptions,
  SignalOptions,
  SnapshotInfo,
  SnapshotKind,
  Snapshotter,
  UpdateOptions,
  Usage,
  WalkOptions,
} from "@strata/snapshots";
import { call } from "./_errors.ts";
import { scopeHeaders } from "./content_client.ts";

const KIND_FROM_WIRE: Partial<Record<number, SnapshotKind>> = {
  [Kind.VIEW]: "view",
  [Kind.ACTIVE]: "active",
  [Kind.COMMITTED]: "committed",
};

function info(m: InfoMessage | undefined): SnapshotInfo {
  if (m === undefined) throw new DataLossError("the daemon sent no snapshot info");
  const kind = KIND_FROM_WIRE[m.kind];
  if (kind === undefined) {
    throw new DataLossError(`the daemon sent snapshot ${m.name} of unknown kind ${m.kind}`);
  }
  return {
    kind,
    name: m.name,
    parent: m.parent,
    labels: { ...m.labels },
    created: m.createdAt ? timestampDate(m.createdAt) : new Date(0),
    updated: m.updatedAt ? timestampDate(m.updatedAt) : new Date(0),
  };
}

const mounts = (ms: readonly MountMessage[]): Mount[] =>
  ms.map((m) => ({ type: m.type, source: m.source, options: [...m.options] }));

/**
 * One snapshotter of a daemon, for one namespace, over containerd's
 * Snapshots API: what `ctr snapshots --snapshotter NAME` talks to.
 */
export class RemoteSnapshotter implements Snapshotter, Cleaner {
  readonly #client: Client<typeof Snapshots>;
  readonly #headers: Record<string, string>;
  readonly #name: string;

  constructor(
    transport: Transport,
    options: { namespace: string; snapshotter: string; lease?: string },
  ) {
    this.#client = createClient(Snapshots, transport);
    this.#headers = scopeHeaders(options.namespace, options.lease);
    this.#name = options.snapshotter;
  }

  async stat(key: string, options?: SignalOptions): Promise<SnapshotInfo> {
    const res = await call(() =>
      this.#client.stat({ snapshotter: this.#name, key }, this.#opts(options)),
    );
    return info(res.info);
  }

  async update(
    target: Pick<SnapshotInfo, "name"> & Partial<Pick<SnapshotInfo, "labels">>,
    options?: UpdateOptions,
  ): Promise<SnapshotInfo> {
    const res = await call(() =>
      this.#client.update(
        {
          snapshotter: this.#name,
          info: create(InfoSchema, { name: target.name, labels: target.labels ?? {} }),
          ...(options?.fieldpaths === undefined
            ? {}
            : { updateMask: create(FieldMaskSchema, { paths: [...options.fieldpaths] }) }),
        },
        this.#opts(options),
      ),
    );
    return info(res.info);
  }

  async usage(key: string, options?: SignalOptions): Promise<Usage> {
    const res = await call(() =>
      this.#client.usage({ snapshotter: this.#name, key }, this.#opts(options)),
    );
    return { size: Number(res.size), inodes: Number(res.inodes) };
  }

  async mounts(key: string, options?: SignalOptions): Promise<Mount[]> {
    const res = await call(() =>
      this.#client.mounts({ snapshotter: this.#name, key }, this.#opts(options)),
    );
    return mounts(res.mounts);
  }

  async prepare(key: string, parent: string, options?: PrepareOptions): Promise<Mount[]> {
    const res = await call(() =>
      this.#client.prepare(
        { snapshotter: this.#name, key, parent, labels: options?.labels ?? {} },
        this.#opts(options),
      ),
    );
    return mounts(res.mounts);
  }

  async view(key: string, parent: string, options?: PrepareOptions): Promise<Mount[]> {
    const res = await call(() =>
      this.#client.view(
        { snapshotter: this.#name, key, parent, labels: options?.labels ?? {} },
        this.#opts(options),
      ),
    );
    return mounts(res.mounts);
  }

  async commit(name: string, key: string, options?: CommitOptions): Promise<void> {
    await call(() =>
      this.#client.commit(
        { snapshotter: this.#name, name, key, labels: options?.labels ?? {} },
        this.#opts(options),
      ),
    );
  }

  async remove(key: string, options?: SignalOptions): Promise<void> {
    await call(() => this.#client.remove({ snapshotter: this.#name, key }, this.#opts(options)));
  }

  async walk(
    fn: (info: SnapshotInfo) => void | Promise<void>,
    options?: WalkOptions,
  ): Promise<void> {
    await call(async () => {
      const stream = this.#client.list(
        { snapshotter: this.#name, filters: [...(options?.filters ?? [])] },
        this.#opts(options),
      );
      for await (const batch of stream) for (const m of batch.info) await fn(info(m));
    });
  }

  async cleanup(options?: SignalOptions): Promise<void> {
    await call(() => this.#client.cleanup({ snapshotter: this.#name }, this.#opts(options)));
  }

  async close(): Promise<void> {}

  #opts(options?: SignalOptions) {
    return {
      headers: this.#headers,
      ...(options?.signal !== undefined ? { signal: options.signal } : {}),
    };
  }
}
