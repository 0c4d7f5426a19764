import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { DescriptorSchema } from "@strata/api";
import type { Diff } from "@strata/api/diff";
import { compressionOfMediaType, decompress } from "@strata/compression";
import { readerStream, type Store } from "@strata/content";
import { applyLayer, diffDirectories, writeLayer } from "@strata/diff";
import { InvalidArgumentError } from "@strata/errdefs";
import { MediaType, validateDigest } from "@strata/oci";
import { leaseOf, namespaceOf } from "./_context.ts";
import { mapErrors } from "./_errors.ts";
import { applyTarget, withMounted } from "./_mounts.ts";
import type { ContentBackend } from "./content.ts";

/**
 * containerd.services.diff.v1.Diff: applies layers from the content store
 * onto mounts, and writes the difference of two mounts as a layer.
 */
export function diffService(backend: ContentBackend): Partial<ServiceImpl<typeof Diff>> {
  const storeOf = (namespace: string, lease: string | undefined): Store =>
    backend.contentStore(namespace, lease === undefined ? {} : { lease });
  return {
    async apply(req, ctx) {
      return mapErrors(async () => {
        if (req.diff === undefined)
          throw new InvalidArgumentError("apply: diff descriptor is required");
        const digest = validateDigest(req.diff.digest);
        const store = storeOf(namespaceOf(ctx), leaseOf(ctx));
        const reader = await store.readerAt({ digest }, { signal: ctx.signal });
        try {
          // The applier sees the uncompressed tar; what the blob's media type
          // says about compression is checked against its bytes by decompress.
          const tar = decompress(readerStream(reader, { signal: ctx.signal }), {
            signal: ctx.signal,
          });
          const target = applyTarget(req.mounts);
          const result =
            target.kind === "mount"
              ? await withMounted(req.mounts, (dir) => applyLayer(dir, tar, { signal: ctx.signal }))
              : await applyLayer(target.path, tar, {
                  overlay: target.kind === "overlay-upper",
                  signal: ctx.signal,
                });
          return {
            applied: create(DescriptorSchema, {
              mediaType: MediaType.OCI_LAYER,
              digest: result.diffID,
              size: BigInt(result.size),
            }),
          };
        } finally {
          await reader.close();
        }
      });
    },

    async diff(req, ctx) {
      return mapErrors(async () => {
        const mediaType = req.mediaType === "" ? MediaType.OCI_LAYER_GZIP : req.mediaType;
        const compression = compressionOfMediaType(mediaType);
        const store = storeOf(namespaceOf(ctx), leaseOf(ctx));
        const result = await withMounted(
          req.left,
          (lower) =>
            withMounted(
              req.right,
              (upper) =>
                writeLayer(store, diffDirectories(lower, upper, { signal: ctx.signal }), {
                  compression,
                  mediaType,
                  ...(req.ref !== "" ? { ref: req.ref } : {}),
                  labels: req.labels,
                  signal: ctx.signal,
                }),
              { readonly: true, signal: ctx.signal },
            ),
          { readonly: true, signal: ctx.signal },
        );
        return {
          diff: create(DescriptorSchema, {
            mediaType: result.descriptor.mediaType,
            digest: result.descriptor.digest,
            size: BigInt(result.descriptor.size),
            annotations: result.descriptor.annotations ?? {},
          }),
        };
      });
    },
  };
}
