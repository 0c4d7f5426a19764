import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import {
  Cache,
  type Progress,
  type RefInfo as RefInfoMessage,
  type RegistryAccessSchema,
  type UsageRecord,
} from "@strata/api/cache";
import { DataLossError } from "@strata/errdefs";
import type { Descriptor, Digest } from "@strata/oci";
import type {
  CacheOps,
  CacheProgress,
  CacheUsage,
  ExportImageResult,
  ImportImageResult,
  RefInfo,
  RefKind,
  RegistryAccess,
} from "../cache/cache_ops.ts";
import { fromRemote } from "./_errors.ts";
import { scopeHeaders } from "./content_client.ts";

type Timestamp = Parameters<typeof timestampDate>[0];
interface DescriptorMessage {
  mediaType: string;
  digest: string;
  size: bigint;
  annotations: { [key: string]: string };
}

const dateOf = (t: Timestamp | undefined): Date | undefined =>
  t === undefined ? undefined : timestampDate(t);

function usage(m: UsageRecord): CacheUsage {
  const lastUsedAt = dateOf(m.lastUsedAt);
  return {
    id: m.id,
    mutable: m.mutable,
    inUse: m.inUse,
    size: Number(m.size),
    createdAt: dateOf(m.createdAt) ?? new Date(0),
    ...(lastUsedAt !== undefined ? { lastUsedAt } : {}),
    usageCount: Number(m.usageCount),
    parents: [...m.parents],
    description: m.description,
    recordType: m.recordType,
    shared: m.shared,
  };
}

function refInfo(m: RefInfoMessage | undefined): RefInfo {
  if (m === undefined) throw new DataLossError("the daemon sent no ref info");
  const lastUsedAt = dateOf(m.lastUsedAt);
  const optional = (key: string, value: string) => (value === "" ? {} : { [key]: value });
  return {
    id: m.id,
    kind: m.kind as RefKind,
    ...optional("chainID", m.chainId),
    ...optional("blobChainID", m.blobChainId),
    ...optional("blob", m.blob),
    ...optional("diffID", m.diffId),
    ...optional("mediaType", m.mediaType),
    ...optional("parent", m.parent),
    ...(m.mergeParents.length > 0 ? { mergeParents: [...m.mergeParents] } : {}),
    ...optional("lowerDiffParent", m.lowerDiffParent),
    ...optional("upperDiffParent", m.upperDiffParent),
    size: Number(m.size),
    description: m.description,
    createdAt: dateOf(m.createdAt) ?? new Date(0),
    ...(lastUsedAt !== undefined ? { lastUsedAt } : {}),
    usageCount: Number(m.usageCount),
    lazy: m.lazy,
    cachePolicy: m.cachePolicy === "retain" ? "retain" : "default",
    recordType: m.recordType,
  } as RefInfo;
}

function descriptor(m: DescriptorMessage | undefined, what: string): Descriptor {
  if (m === undefined) throw new DataLossError(`the daemon sent no ${what} descriptor`);
  return {
    mediaType: m.mediaType,
    digest: m.digest as Digest,
    size: Number(m.size),
    ...(Object.keys(m.annotations).length > 0 ? { annotations: { ...m.annotations } } : {}),
  };
}

function registryMessage(
  r: RegistryAccess | undefined,
): MessageInitShape<typeof RegistryAccessSchema> | undefined {
  if (r === undefined) return undefined;
  return {
    insecureHosts: [...(r.insecureHosts ?? [])],
    username: r.username ?? "",
    password: r.password ?? "",
    // The caller's docker config directory (by default its own), not the daemon's.
    dockerConfig:
      r.dockerConfig === false
        ? ""
        : resolve(r.dockerConfig ?? process.env.DOCKER_CONFIG ?? join(homedir(), ".docker")),
    noDockerConfig: r.dockerConfig === false,
  };
}

// `oci:` paths are the caller's: make them absolute before the daemon,
// whose working directory differs, reads them.
function absoluteTarget(target: string): string {
  if (!target.startsWith("oci:")) return target;
  const rest = target.slice("oci:".length);
  const colon = rest.lastIndexOf(":");
  const tagged = colon > rest.lastIndexOf("/");
  const dir = tagged ? rest.slice(0, colon) : rest;
  return `oci:${resolve(dir)}${tagged ? rest.slice(colon) : ""}`;
}

function progressEvent(m: Progress): CacheProgress {
  return {
    id: m.id,
    action: m.action,
    current: Number(m.current),
    total: Number(m.total),
    done: m.done,
  };
}

/**
 * Reads a stream of Progress messages: each but the last goes to
 * `onProgress`, the last (which carries the result) is returned.
 */
async function lastOf(
  stream: AsyncIterable<Progress>,
  onProgress: ((e: CacheProgress) => void) | undefined,
  what: string,
): Promise<Progress> {
  let previous: Progress | undefined;
  try {
    for await (const m of stream) {
      if (previous !== undefined) onProgress?.(progressEvent(previous));
      previous = m;
    }
  } catch (err) {
    throw fromRemote(err);
  }
  if (previous === undefined) throw new DataLossError(`the daemon ended ${what} without a result`);
  return previous;
}

/**
 * The {@link CacheOps} of a daemon session: each operation is a call to the
 * daemon's `strata.services.cache.v1.Cache` service in `namespace`, progress
 * streamed back to `onProgress`. Paths (`oci:DIR`, the directory of a
 * commit, `DOCKER_CONFIG`) are made absolute here and read by the daemon on
 * its host.
 */
export function remoteCacheOps(transport: Transport, options: { namespace: string }): CacheOps {
  const client: Client<typeof Cache> = createClient(Cache, transport);
  const headers = scopeHeaders(options.namespace);
  const opts = (o?: { signal?: AbortSignal }) => ({
    headers,
    ...(o?.signal !== undefined ? { signal: o.signal } : {}),
  });
  const unary = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw fromRemote(err);
    }
  };
  return {
    async exportImage(ref, target, o): Promise<ExportImageResult> {
      const registry = registryMessage(o?.registry);
      const last = await lastOf(
        client.exportImage(
          {
            refId: ref,
            destination: absoluteTarget(target),
            compression: o?.compression ?? "",
            forceCompression: o?.forceCompression ?? false,
            ...(registry !== undefined ? { registry } : {}),
          },
          opts(o),
        ),
        o?.onProgress,
        "the export",
      );
      const r = last.exportResult;
      if (r === undefined) throw new DataLossError("the daemon sent no export result");
      return {
        manifest: descriptor(r.manifest, "manifest"),
        config: descriptor(r.config, "config"),
        layers: r.layers.map((l) => descriptor(l, "layer")),
        blobsSent: Number(r.blobsSent),
        target: r.target,
      };
    },

    async importImage(source, o): Promise<ImportImageResult> {
      const registry = registryMessage(o?.registry);
      const last = await lastOf(
        client.importImage(
          {
            source: absoluteTarget(source),
            ...(o?.lazy !== undefined ? { lazy: o.lazy } : {}),
            ...(registry !== undefined ? { registry } : {}),
            ...(o?.platform !== undefined
              ? {
                  platform: {
                    os: o.platform.os,
                    architecture: o.platform.architecture,
                    variant: o.platform.variant ?? "",
                  },
                }
              : {}),
            description: o?.description ?? "",
          },
          opts(o),
        ),
        o?.onProgress,
        "the import",
      );
      const r = last.importResult;
      if (r === undefined) throw new DataLossError("the daemon sent no import result");
      return {
        ref: r.ref,
        refs: [...r.refs],
        manifest: descriptor(r.manifest, "manifest"),
        config: descriptor(r.config, "config"),
        chainID: r.chainId as Digest,
      };
    },

    async refs(o) {
      const res = await unary(() => client.listRefs({}, opts(o)));
      return res.refs.map((m) => {
        const lastUsedAt = dateOf(m.lastUsedAt);
        return {
          id: m.id,
          kind: m.kind as RefKind,
          size: Number(m.size),
          ...(lastUsedAt !== undefined ? { lastUsedAt } : {}),
          description: m.description,
          lazy: m.lazy,
        };
      });
    },

    async refInfo(id, o) {
      const res = await unary(() => client.getRef({ id }, opts(o)));
      return refInfo(res.info);
    },

    async removeRefs(ids, o) {
      const res = await unary(() => client.removeRefs({ ids: [...ids] }, opts(o)));
      return res.removed.map(usage);
    },

    async commitDirectory(dir, o) {
      const registry = registryMessage(o?.registry);
      const last = await lastOf(
        client.commitDirectory(
          {
            directory: resolve(dir),
            parent: o?.parent ?? "",
            description: o?.description ?? "",
            ...(registry !== undefined ? { registry } : {}),
          },
          opts(o),
        ),
        o?.onProgress,
        "the commit",
      );
      return refInfo(last.commitResult);
    },

    async diskUsage(o) {
      const res = await unary(() =>
        client.diskUsage({ filters: [...(o?.filters ?? [])] }, opts(o)),
      );
      return res.records.map(usage);
    },

    async prune(o) {
      const removed: CacheUsage[] = [];
      try {
        for await (const m of client.prune(
          {
            filters: [...(o?.filters ?? [])],
            all: o?.all ?? false,
            ...(o?.keepDuration !== undefined
              ? { keepDurationMs: BigInt(Math.trunc(o.keepDuration)) }
              : {}),
            ...(o?.reservedSpace !== undefined
              ? { reservedSpace: BigInt(Math.trunc(o.reservedSpace)) }
              : {}),
            ...(o?.maxUsedSpace !== undefined
              ? { maxUsedSpace: BigInt(Math.trunc(o.maxUsedSpace)) }
              : {}),
            ...(o?.minFreeSpace !== undefined
              ? { minFreeSpace: BigInt(Math.trunc(o.minFreeSpace)) }
              : {}),
          },
          opts(o),
        )) {
          if (m.removed !== undefined) removed.push(usage(m.removed));
        }
      } catch (err) {
        throw fromRemote(err);
      }
      return removed;
    },
  };
}
