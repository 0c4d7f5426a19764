import type { CacheManager, ImmutableRef } from "@strata/cache";
import { ANNOTATION_CREATED_AT } from "@strata/cache";
import { readerStream } from "@strata/content";
import { DataLossError } from "@strata/errdefs";
import {
  type Descriptor,
  type Digest,
  digestOf,
  type History,
  type ImageConfig,
  type ImageManifest,
  isDigest,
  LABEL_UNCOMPRESSED,
  layerCompression,
  layerMediaType,
  MediaType,
} from "@strata/oci";
import type { CacheProgress, ExportImageOptions, ExportImageResult } from "../cache/cache_ops.ts";
import { once, openTarget } from "./_image_io.ts";
import { attachLazySources } from "./_lazy_sources.ts";
import { parseImageLocation } from "./image_location.ts";
import { hostPlatform } from "./platform.ts";

/** Layer annotations kept in the manifest (eStargz needs its TOC digest); the rest are Strata's own. */
const KEPT_ANNOTATIONS = [
  "containerd.io/snapshot/stargz/toc.digest",
  "io.containers.estargz.uncompressed-size",
];

/** Blobs pushed or written at once. */
const PARALLEL_BLOBS = 3;

/** The OCI media type of a layer of any (OCI or Docker) media type. */
function ociLayerMediaType(mediaType: string): string {
  const compression = layerCompression(mediaType);
  if (compression === undefined) return mediaType;
  return layerMediaType(compression) ?? mediaType;
}

/** Runs `fn` on every item, at most `limit` at a time; fails with the first error. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Descriptions of the layers of a plain layer chain, bottom first; undefined for merges and diffs. */
function layerDescriptions(cm: CacheManager, id: string): string[] | undefined {
  const out: string[] = [];
  let at: string | undefined = id;
  while (at !== undefined) {
    const r = cm.record(at);
    if (r.kind !== "base" && r.kind !== "layer") return undefined;
    out.unshift(r.description);
    at = r.parent;
  }
  return out;
}

/**
 * The image config and manifest of `layers` (export descriptors of the
 * cache manager): diffIDs from their `containerd.io/uncompressed`
 * annotations, one history entry per layer dated by its record. The same
 * layers always give the same bytes, so exporting a ref twice gives the
 * same digests.
 *
 * @throws {DataLossError} when a layer lacks its diffID.
 */
export function buildImage(
  layers: readonly Descriptor[],
  descriptions: readonly string[] | undefined,
): {
  config: Descriptor;
  configBytes: Uint8Array;
  manifest: Descriptor;
  manifestBytes: Uint8Array;
  layers: Descriptor[];
} {
  const diffIDs: Digest[] = [];
  const history: History[] = [];
  const clean: Descriptor[] = [];
  layers.forEach((d, i) => {
    const diffID = d.annotations?.[LABEL_UNCOMPRESSED];
    if (diffID === undefined || !isDigest(diffID)) {
      throw new DataLossError(`cannot build image: layer ${d.digest} has no diffID`);
    }
    diffIDs.push(diffID);
    const created = d.annotations?.[ANNOTATION_CREATED_AT];
    const description = descriptions?.[i];
    history.push({
      ...(created === undefined ? {} : { created }),
      created_by: description !== undefined && description !== "" ? description : "strata",
      comment: "strata",
    });
    const annotations: Record<string, string> = {};
    for (const key of KEPT_ANNOTATIONS) {
      const v = d.annotations?.[key];
      if (v !== undefined) annotations[key] = v;
    }
    clean.push({
      mediaType: ociLayerMediaType(d.mediaType),
      digest: d.digest,
      size: d.size,
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    });
  });
  const platform = hostPlatform();
  const created = history.at(-1)?.created;
  const config: ImageConfig = {
    ...(created === undefined ? {} : { created }),
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    rootfs: { type: "layers", diff_ids: diffIDs },
    history,
  };
  const configBytes = new TextEncoder().encode(JSON.stringify(config));
  const configDesc: Descriptor = {
    mediaType: MediaType.OCI_CONFIG,
    digest: digestOf(configBytes),
    size: configBytes.byteLength,
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: configDesc,
    layers: clean,
  };
  const manifestBytes = new TextEncoder().encode(JSON.stringify(manifest));
  return {
    config: configDesc,
    configBytes,
    manifest: {
      mediaType: MediaType.OCI_MANIFEST,
      digest: digestOf(manifestBytes),
      size: manifestBytes.byteLength,
    },
    manifestBytes,
    layers: clean,
  };
}

/**
 * Writes an image of ref `refId` to `target` (`oci:DIR[:TAG]` or
 * `registry:HOST/REPO[:TAG]`): the ref's blob chain is computed (or
 * reused, converting only what lacks the compression asked for with
 * `forceCompression`), then the layers, the config and the manifest are
 * written, skipping blobs the target has.
 *
 * @throws {InvalidArgumentError} for a malformed target.
 * @throws {NotFoundError} for an unknown ref.
 * @throws registry and file system errors of the target.
 */
export async function exportImage(
  cm: CacheManager,
  refId: string,
  target: string,
  options: ExportImageOptions = {},
): Promise<ExportImageResult> {
  const location = parseImageLocation(target);
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const progress = (e: CacheProgress) => options.onProgress?.(e);
  const ref: ImmutableRef = await cm.get(refId, signal);
  try {
    await attachLazySources(cm, ref.id, options.registry, signal);
    progress({ id: ref.id, action: "computing", current: 0, total: 0, done: false });
    const [remote] = await cm.getRemotes(ref, {
      ...(options.compression === undefined ? {} : { compression: options.compression }),
      ...(options.forceCompression === true ? { force: true } : {}),
      ...signal,
    });
    if (remote === undefined) throw new DataLossError(`ref ${refId}: no remote for its layers`);
    progress({ id: ref.id, action: "computing", current: 1, total: 1, done: true });
    const image = buildImage(remote.descriptors, layerDescriptions(cm, ref.id));
    const out = await openTarget(location, options.registry, signal);
    let sent = 0;
    const blobs: { desc: Descriptor; source: Descriptor | Uint8Array }[] = [
      ...image.layers.map((desc, i) => ({ desc, source: remote.descriptors[i] as Descriptor })),
      { desc: image.config, source: image.configBytes },
    ];
    await forEachLimit(blobs, PARALLEL_BLOBS, async ({ desc, source }) => {
      progress({ id: desc.digest, action: "pushing", current: 0, total: desc.size, done: false });
      let current = 0;
      const open = async (): Promise<AsyncIterable<Uint8Array>> => {
        if (source instanceof Uint8Array) return once(source);
        return (async function* () {
          const ra = await remote.provider.readerAt(source, signal);
          try {
            for await (const chunk of readerStream(ra, signal)) {
              current += chunk.byteLength;
              progress({
                id: desc.digest,
                action: "pushing",
                current,
                total: desc.size,
                done: false,
              });
              yield chunk;
            }
          } finally {
            await ra.close();
          }
        })();
      };
      const done = await out.putBlob(desc, open, signal);
      if (done === "written") sent++;
      progress({
        id: desc.digest,
        action: done === "exists" ? "exists" : "done",
        current: desc.size,
        total: desc.size,
        done: true,
      });
    });
    await out.putManifest(image.manifest, image.manifestBytes, signal);
    progress({
      id: image.manifest.digest,
      action: "done",
      current: image.manifest.size,
      total: image.manifest.size,
      done: true,
    });
    return {
      manifest: image.manifest,
      config: image.config,
      layers: image.layers,
      blobsSent: sent,
      target: out.name,
    };
  } finally {
    await ref.release();
  }
}
