import { join, resolve } from "node:path";
import { parseDigest } from "./_digest.ts";
import type { Descriptor } from "./_oci.ts";
import type { Provider, ReaderAt } from "./content.ts";
import { FileReaderAt } from "./file_reader_at.ts";

/**
 * Reads blobs of an OCI image layout directory (`<dir>/blobs/<alg>/<hex>`),
 * e.g. one written by `skopeo copy ... oci:<dir>` or `umoci`. A content
 * store root is also readable this way, since its `blobs/` has that shape.
 *
 * @example
 * ```ts
 * const layout = new OciLayoutProvider("./image");
 * const manifest = await readBlob(layout, manifestDesc, { maxSize: 4 << 20 });
 * ```
 */
export class OciLayoutProvider implements Provider {
  /** The layout directory (absolute). */
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /**
   * @throws {NotFoundError} when the layout has no such blob.
   * @throws {InvalidArgumentError} on a malformed digest.
   */
  async readerAt(
    desc: Pick<Descriptor, "digest"> & { size?: number },
    options?: { signal?: AbortSignal },
  ): Promise<ReaderAt> {
    options?.signal?.throwIfAborted();
    const { algorithm, encoded } = parseDigest(desc.digest, `cannot read OCI layout ${this.root}`);
    return FileReaderAt.open(join(this.root, "blobs", algorithm, encoded), desc.digest);
  }
}
