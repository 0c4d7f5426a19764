import { isAlreadyExists } from "@strata/errdefs";
import type { Descriptor } from "./_oci.ts";
import type { CommitOptions, Ingester } from "./content.ts";
import { copy } from "./copy.ts";

/**
 * Writes one blob whose digest and size are known, under `ref`: opens the
 * writer with `desc`, copies `source` (resuming an interrupted ingest), and
 * commits. A blob that already exists is success, and then `source` is not
 * read (containerd's `content.WriteBlob`).
 *
 * @throws {FailedPreconditionError} when the bytes do not match `desc`.
 * @throws {UnavailableError} when another writer holds `ref`.
 *
 * @example
 * ```ts
 * const bytes = new TextEncoder().encode(JSON.stringify(config));
 * await writeBlob(store, `config-${digest}`, bytes, { digest, size: bytes.length });
 * ```
 */
export async function writeBlob(
  ingester: Ingester,
  ref: string,
  source: AsyncIterable<Uint8Array> | Uint8Array,
  desc: Pick<Descriptor, "digest" | "size">,
  options?: CommitOptions,
): Promise<void> {
  let writer: Awaited<ReturnType<Ingester["writer"]>>;
  try {
    writer = await ingester.writer({
      ref,
      desc: { digest: desc.digest, size: desc.size },
      ...(options?.signal === undefined ? {} : { signal: options.signal }),
    });
  } catch (err) {
    if (isAlreadyExists(err)) return;
    throw err;
  }
  await copy(writer, source, desc, options);
}
