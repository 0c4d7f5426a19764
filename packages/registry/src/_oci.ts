// Everything this package takes from @strata/oci, in one place.
export {
  type Algorithm,
  type Descriptor,
  type Digest,
  detectManifestMediaType,
  digestOf,
  MediaType,
  parseDigest,
  validateDigest,
  verifyStream,
} from "@strata/oci";
