import type { CacheManager } from "@strata/cache";
import type { Provider } from "@strata/content";
import { isNotFound } from "@strata/errdefs";
import type { CacheRecord } from "@strata/metadata";
import { LABEL_UNCOMPRESSED } from "@strata/oci";
import type { RegistryAccess } from "../cache/cache_ops.ts";
import { openSource } from "./_image_io.ts";
import { parseImageLocation } from "./image_location.ts";

function parentsOf(r: CacheRecord): string[] {
  return [
    ...(r.parent === undefined ? [] : [r.parent]),
    ...r.mergeParents,
    ...(r.lowerDiffParent === undefined ? [] : [r.lowerDiffParent]),
    ...(r.upperDiffParent === undefined ? [] : [r.upperDiffParent]),
  ];
}

/**
 * Gives the cache manager a provider for every lazy blob under ref `id`
 * whose image source is recorded on the record (`imageRefs[0]`, as
 * {@link importImage} writes it). The manager keeps providers in memory
 * only, so a lazy ref imported by an earlier process needs them again
 * before its blobs can be fetched; `getByBlob` with a provider re-registers
 * it and returns the existing record. Sources that cannot be opened are
 * skipped: fetching then fails with the manager's own error.
 */
export async function attachLazySources(
  cm: CacheManager,
  id: string,
  access: RegistryAccess | undefined,
  options: { signal?: AbortSignal },
): Promise<void> {
  const providers = new Map<string, Promise<Provider | undefined>>();
  const seen = new Set<string>();
  const todo = [id];
  while (todo.length > 0) {
    const at = todo.pop() as string;
    if (seen.has(at)) continue;
    seen.add(at);
    const r = cm.record(at);
    todo.push(...parentsOf(r));
    const source = r.imageRefs[0];
    if (!r.blobOnly || r.blob === undefined || r.diffID === undefined || source === undefined) {
      continue;
    }
    try {
      await cm.content.info(r.blob, options);
      continue;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    let opened = providers.get(source);
    if (opened === undefined) {
      opened = (async () => {
        try {
          return (await openSource(parseImageLocation(source), access, options)).provider;
        } catch {
          return undefined;
        }
      })();
      providers.set(source, opened);
    }
    const provider = await opened;
    if (provider === undefined) continue;
    const ref = await cm.getByBlob(
      {
        mediaType: r.mediaType ?? "",
        digest: r.blob,
        size: r.blobSize ?? 0,
        annotations: { [LABEL_UNCOMPRESSED]: r.diffID },
      },
      {
        provider,
        ...(r.parent === undefined ? {} : { parent: { id: r.parent } }),
        ...options,
      },
    );
    await ref.release();
  }
}
