/** Content label linking compression variants both ways (BuildKit's `blobVariantGCLabel`); the digest follows the dash. */
export const LABEL_BLOB_VARIANT_PREFIX = "containerd.io/gc.ref.content.blob-";
/** Content label holding a blob's media type, so a variant can be described from its labels. */
export const LABEL_BLOB_MEDIA_TYPE = "buildkit.io/blob/mediatype";
/** Prefix of content labels holding a blob's descriptor annotations. */
export const LABEL_BLOB_ANNOTATION_PREFIX = "buildkit.io/blob/annotation.";
/** Descriptor annotation: when the layer's record was created (RFC 3339). */
export const ANNOTATION_CREATED_AT = "buildkit/createdat";
/** Descriptor annotation: the record's description. */
export const ANNOTATION_DESCRIPTION = "buildkit/description";
/** Lease label of a record's lease: flat, so GC does not follow labels from it. */
export const LABEL_GC_FLAT = "containerd.io/gc.flat";
