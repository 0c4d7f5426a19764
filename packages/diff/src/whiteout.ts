/** Prefix of an OCI whiteout entry: `.wh.<name>` deletes `<name>` of the lower layers. */
export const WHITEOUT_PREFIX = ".wh.";

/** An OCI opaque marker: `<dir>/.wh..wh..opq` hides everything lower layers had in `<dir>`. */
export const OPAQUE_MARKER = ".wh..wh..opq";

/** The overlayfs xattrs that mark a directory opaque (root, then rootless). */
export const OVERLAY_OPAQUE_XATTRS: readonly string[] = [
  "trusted.overlay.opaque",
  "user.overlay.opaque",
];
