/**
 * Everything this package needs from `@strata/oci`, in one place.
 *
 * `@strata/oci` is being written at the same time as this package; until its
 * `Digest`, `Digester`, media type constants and `Descriptor` land, this module
 * provides compatible stand-ins. Swapping them for re-exports from
 * `@strata/oci` is the only change the rest of the package needs.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";

/** A content digest, `<algorithm>:<hex>` (here always sha256). */
export type Digest = `${string}:${string}`;

/** Incremental sha256 over bytes, with the count of bytes seen. */
export interface Digester {
  update(chunk: Uint8Array): void;
  digest(): Digest;
  readonly size: number;
}

class Sha256Digester implements Digester {
  #hash: Hash = createHash("sha256");
  #size = 0;
  #done: Digest | undefined;

  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.#size += chunk.byteLength;
  }

  digest(): Digest {
    this.#done ??= `sha256:${this.#hash.digest("hex")}`;
    return this.#done;
  }

  get size(): number {
    return this.#size;
  }
}

/** A new sha256 {@link Digester}. */
export function newDigester(): Digester {
  return new Sha256Digester();
}

/** The sha256 digest of bytes held in memory (small things: a TOC, a chunk). */
export function digestBytes(bytes: Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A content descriptor (OCI image-spec). */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
}

/** Random access to bytes: what a content store hands out for a blob. */
export interface ReaderAt {
  /** The size in bytes. */
  readonly size: number;
  /** Reads up to `buf.byteLength` bytes at `offset`; returns how many were read (0 at the end). */
  readAt(buf: Uint8Array, offset: number): Promise<number>;
  /** Releases the underlying resource. */
  close(): Promise<void>;
}

/** Layer media types (OCI image-spec and Docker image manifest v2.2, plus containerd's Docker zstd). */
export const MediaType = {
  OCI_LAYER: "application/vnd.oci.image.layer.v1.tar",
  OCI_LAYER_GZIP: "application/vnd.oci.image.layer.v1.tar+gzip",
  OCI_LAYER_ZSTD: "application/vnd.oci.image.layer.v1.tar+zstd",
  OCI_LAYER_NONDISTRIBUTABLE: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  OCI_LAYER_NONDISTRIBUTABLE_GZIP: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  OCI_LAYER_NONDISTRIBUTABLE_ZSTD: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  DOCKER_LAYER: "application/vnd.docker.image.rootfs.diff.tar",
  DOCKER_LAYER_GZIP: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  DOCKER_LAYER_FOREIGN_GZIP: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  /** Not in Docker's spec: containerd's name, recognised on input only. */
  DOCKER_LAYER_ZSTD: "application/vnd.docker.image.rootfs.diff.tar.zstd",
} as const;

/** The descriptor annotation holding a layer's diffID. */
export const ANNOTATION_UNCOMPRESSED = "containerd.io/uncompressed";
