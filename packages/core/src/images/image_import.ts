import type { CacheManager, ImmutableRef } from "@strata/cache";
import { InvalidArgumentError } from "@strata/errdefs";
import {
  type Descriptor,
  type Digest,
  isIndexMediaType,
  isManifestMediaType,
  LABEL_UNCOMPRESSED,
  layerCompression,
  parseImageConfig,
  parseIndex,
  parseManifest,
} from "@strata/oci";
import type { CacheProgress, ImportImageOptions, ImportImageResult } from "../cache/cache_ops.ts";
import { MAX_DOCUMENT_BYTES, openSource } from "./_image_io.ts";
import { parseImageLocation } from "./image_location.ts";
import { hostPlatform, selectManifest } from "./platform.ts";

/** Nested indexes followed before giving up. */
const MAX_INDEX_DEPTH = 4;

/**
 * Creates refs for the layers of the image at `source` (`oci:DIR[:TAG]` or
 * `registry:HOST/REPO[:TAG|@DIGEST]`): resolves the location (an index to
 * this platform's manifest), reads the manifest and config (capped at 4
 * MiB, verified), and records each layer with `CacheManager.getByBlob`
 * over the source's provider. Lazy imports fetch nothing more; eager ones
 * fetch and unpack every layer. Every record names the source in its
 * `imageRefs`, so a later process can fetch lazy blobs from it again.
 *
 * @throws {InvalidArgumentError} for a malformed source, an image without layers, a layer of an unknown media type, or diffIDs that do not match the layers.
 * @throws {NotFoundError} when the tag or this platform's manifest is missing.
 * @throws {DataLossError} when a document or blob does not match its digest.
 */
export async function importImage(
  cm: CacheManager,
  source: string,
  options: ImportImageOptions = {},
): Promise<ImportImageResult> {
  const location = parseImageLocation(source);
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const progress = (e: CacheProgress) => options.onProgress?.(e);
  const src = await openSource(location, options.registry, signal);
  const top = await src.resolve(signal);
  let desc: Descriptor = top;
  for (let depth = 0; isIndexMediaType(desc.mediaType); depth++) {
    if (depth >= MAX_INDEX_DEPTH) {
      throw new InvalidArgumentError(
        `${src.name}: indexes nested more than ${MAX_INDEX_DEPTH} deep`,
      );
    }
    const index = parseIndex(await src.readDocument(desc, signal), {
      maxBytes: MAX_DOCUMENT_BYTES,
    });
    desc = selectManifest(
      index,
      options.platform ?? hostPlatform(),
      `${src.name} (${desc.digest})`,
    );
  }
  if (!isManifestMediaType(desc.mediaType)) {
    throw new InvalidArgumentError(
      `${src.name}: ${desc.digest} is a ${desc.mediaType}, not an image manifest`,
    );
  }
  progress({
    id: desc.digest,
    action: "resolved",
    current: desc.size,
    total: desc.size,
    done: true,
  });
  const manifest = parseManifest(await src.readDocument(desc, signal), {
    maxBytes: MAX_DOCUMENT_BYTES,
  });
  const config = parseImageConfig(await src.readDocument(manifest.config, signal), {
    maxBytes: MAX_DOCUMENT_BYTES,
  });
  const diffIDs = config.rootfs.diff_ids;
  if (manifest.layers.length === 0) {
    throw new InvalidArgumentError(`${src.name}: image ${desc.digest} has no layers`);
  }
  if (diffIDs.length !== manifest.layers.length) {
    throw new InvalidArgumentError(
      `${src.name}: image ${desc.digest} has ${manifest.layers.length} layers but ${diffIDs.length} diff_ids`,
    );
  }
  for (const layer of manifest.layers) {
    if (layerCompression(layer.mediaType) === undefined) {
      throw new InvalidArgumentError(
        `${src.name}: layer ${layer.digest} has media type ${layer.mediaType}, not a tar layer`,
      );
    }
  }
  const lazy = options.lazy ?? location.kind === "registry";
  const refs: ImmutableRef[] = [];
  try {
    for (const [i, layer] of manifest.layers.entries()) {
      const parent = refs.at(-1);
      const ref = await cm.getByBlob(
        {
          ...layer,
          annotations: { ...layer.annotations, [LABEL_UNCOMPRESSED]: diffIDs[i] as Digest },
        },
        {
          provider: src.provider,
          imageRefs: [src.name],
          description: options.description ?? `imported from ${src.name}`,
          ...(parent === undefined ? {} : { parent }),
          ...signal,
        },
      );
      refs.push(ref);
    }
    const last = refs.at(-1) as ImmutableRef;
    if (!lazy) {
      progress({ id: last.id, action: "unpacking", current: 0, total: refs.length, done: false });
      await last.extract(signal);
      progress({
        id: last.id,
        action: "unpacking",
        current: refs.length,
        total: refs.length,
        done: true,
      });
    }
    const chainID = last.info().chainID;
    if (chainID === undefined) {
      throw new InvalidArgumentError(`${src.name}: top layer ref ${last.id} has no chain ID`);
    }
    return {
      ref: last.id,
      refs: refs.map((r) => r.id),
      manifest: desc,
      config: manifest.config,
      chainID,
    };
  } finally {
    for (const r of refs) await r.release();
  }
}
