// The OCI types this package needs. @strata/oci is being written alongside
// this package; until it exports `Digest` and `Descriptor`, these local
// stand-ins keep the package compiling. They are structurally what the
// contract names (a digest string, a descriptor with digest and size), and
// every use goes through this one module so the switch is a one-line change.

/** A content digest, `<algorithm>:<hex>` (`sha256:…`). */
export type Digest = string;

/** The parts of an OCI descriptor the content store reads. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  urls?: string[];
}
