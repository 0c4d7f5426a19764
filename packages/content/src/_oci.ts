// The OCI types this package uses, in one place.
export type { Descriptor, Digest } from "@strata/oci";
