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
 * When the import fails (a blob that does not verify, a body cut short, an
 * abort), the records it created are removed and what they held is
 * collected; records that existed before it are kept as they were.
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
  // Records that exist now are not this call's to remove if it fails.
  const existing = new Set(cm.records.list().map((r) => r.id));
  const me = Symbol(src.name);
  let failed = true;
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
      claim(cm, ref.id, me);
    }
    const last = refs.at(-1) as ImmutableRef;
    if (!lazy) {
      progress({ id: last.id, action: "unpacking", current: 0, total: refs.length, done: false });
      // Every layer is asked for (the runs are shared with the top's
      // extraction of its parents), so that when one fails the others have
      // settled too before the records are removed.
      const results = await Promise.allSettled(refs.map((r) => r.extract(signal)));
      const failure = results.find((r) => r.status === "rejected");
      if (failure !== undefined) throw failure.reason;
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
    failed = false;
    return {
      ref: last.id,
      refs: refs.map((r) => r.id),
      manifest: desc,
      config: manifest.config,
      chainID,
    };
  } finally {
    if (failed) {
      await discardCreated(cm, refs, existing, me);
    } else {
      for (const r of refs) {
        const c = claims.get(cm)?.get(r.id);
        if (c !== undefined) c.succeeded = true;
      }
      for (const r of refs) await r.release();
    }
    for (const r of refs) unclaim(cm, r.id, me);
  }
}

/**
 * The imports of this process that hold a record, and whether one of them
 * succeeded: a failed import must not remove a record that another import,
 * started meanwhile with the same layers, handed to its caller. While any
 * import holds the record the entry stays, so a success is seen by a
 * failure that ends later.
 */
interface Claim {
  readonly imports: Set<symbol>;
  succeeded: boolean;
}

const claims = new WeakMap<CacheManager, Map<string, Claim>>();

function claim(cm: CacheManager, id: string, me: symbol): void {
  let byID = claims.get(cm);
  if (byID === undefined) {
    byID = new Map();
    claims.set(cm, byID);
  }
  let c = byID.get(id);
  if (c === undefined) {
    c = { imports: new Set(), succeeded: false };
    byID.set(id, c);
  }
  c.imports.add(me);
}

function unclaim(cm: CacheManager, id: string, me: symbol): void {
  const byID = claims.get(cm);
  const c = byID?.get(id);
  if (byID === undefined || c === undefined) return;
  c.imports.delete(me);
  if (c.imports.size === 0) byID.delete(id);
}

/**
 * Releases the refs of a failed import, top layer first, and removes the
 * records this import created, then collects what they held. A record is
 * kept when it existed before the import, when another import of this
 * process holds it or handed it out, when another handle still holds it,
 * or when a record outside this import names it as a parent. Best effort:
 * the import's own error is what the caller sees, and whatever a failed
 * removal leaves stays a prunable record, as it was before.
 */
async function discardCreated(
  cm: CacheManager,
  refs: readonly ImmutableRef[],
  existing: ReadonlySet<string>,
  me: symbol,
): Promise<void> {
  let removed = 0;
  for (const ref of [...refs].reverse()) {
    try {
      await ref.release();
      const c = claims.get(cm)?.get(ref.id);
      const shared = c !== undefined && (c.succeeded || [...c.imports].some((i) => i !== me));
      if (existing.has(ref.id) || shared || cm.inUse(ref.id)) continue;
      if (cm.records.children(ref.id).some((r) => !r.deleted)) continue;
      await cm.removeRecord(ref.id);
      removed++;
    } catch {
      // Left as a prunable record (see above).
    }
  }
  if (removed > 0) await cm.gc().catch(() => {});
}
