import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { type Lease as LeaseMessage, Leases } from "@strata/api/leases";
import { DataLossError } from "@strata/errdefs";
import { LABEL_GC_EXPIRE, type Lease, type LeaseManager, type Resource } from "@strata/leases";
import { call } from "./_errors.ts";
import { scopeHeaders } from "./content_client.ts";

function lease(m: LeaseMessage | undefined): Lease {
  if (m === undefined) throw new DataLossError("the daemon sent no lease");
  return {
    id: m.id,
    createdAt: m.createdAt ? timestampDate(m.createdAt) : new Date(0),
    labels: { ...m.labels },
  };
}

/** The leases of one namespace on a daemon, over containerd's Leases API. */
export class RemoteLeaseManager implements LeaseManager {
  readonly #client: Client<typeof Leases>;
  readonly #headers: Record<string, string>;

  constructor(transport: Transport, options: { namespace: string }) {
    this.#client = createClient(Leases, transport);
    this.#headers = scopeHeaders(options.namespace);
  }

  async create(options: Parameters<LeaseManager["create"]>[0] = {}): Promise<Lease> {
    const labels = { ...(options.labels ?? {}) };
    if (options.expiresIn !== undefined) {
      labels[LABEL_GC_EXPIRE] = new Date(Date.now() + options.expiresIn).toISOString();
    }
    const res = await call(() =>
      this.#client.create({ id: options.id ?? "", labels }, this.#opts(options)),
    );
    return lease(res.lease);
  }

  async delete(
    target: { id: string },
    options?: { sync?: boolean; signal?: AbortSignal },
  ): Promise<void> {
    await call(() =>
      this.#client.delete({ id: target.id, sync: options?.sync === true }, this.#opts(options)),
    );
  }

  async list(options?: { filters?: readonly string[]; signal?: AbortSignal }): Promise<Lease[]> {
    const res = await call(() =>
      this.#client.list({ filters: [...(options?.filters ?? [])] }, this.#opts(options)),
    );
    return res.leases.map(lease);
  }

  async addResource(
    target: { id: string },
    resource: Resource,
    options?: { signal?: AbortSignal },
  ): Promise<void> {
    await call(() => this.#client.addResource({ id: target.id, resource }, this.#opts(options)));
  }

  async deleteResource(
    target: { id: string },
    resource: Resource,
    options?: { signal?: AbortSignal },
  ): Promise<void> {
    await call(() => this.#client.deleteResource({ id: target.id, resource }, this.#opts(options)));
  }

  async listResources(
    target: { id: string },
    options?: { signal?: AbortSignal },
  ): Promise<Resource[]> {
    const res = await call(() =>
      this.#client.listResources({ id: target.id }, this.#opts(options)),
    );
    return res.resources.map((r) => ({ id: r.id, type: r.type }));
  }

  #opts(options?: { signal?: AbortSignal }) {
    return {
      headers: this.#headers,
      ...(options?.signal !== undefined ? { signal: options.signal } : {}),
    };
  }
}
