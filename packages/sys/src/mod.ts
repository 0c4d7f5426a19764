/**
 * The Linux system calls Node has no API for, behind one small module:
 * extended attributes with binary values, mknod (overlay whiteouts, device
 * nodes) and mount/unmount. They are served by a tiny Node-API addon
 * (native/strata_sys.cc) compiled with g++ on first use; see README.md. xattr and mknod calls are
 * synchronous (one system call each); mount and unmount return promises.
 *
 * @example
 * ```ts
 * import { lgetxattrs, mknod, setxattr } from "@strata/sys";
 *
 * setxattr("/upper/dir", "trusted.overlay.opaque", new TextEncoder().encode("y"));
 * mknod("/upper/removed", { type: "char", major: 0, minor: 0 });
 * console.log(lgetxattrs("/upper/dir"));
 * ```
 *
 * @module
 */
export { buildNative } from "./_native.ts";
export { type MknodSpec, mknod } from "./mknod.ts";
export {
  type Mount,
  MS,
  mount,
  type ParsedMountOptions,
  parseMountOptions,
  type UnmountOptions,
  unmount,
} from "./mount.ts";
export {
  getxattr,
  lgetxattrs,
  listxattr,
  removexattr,
  type SetXattrOptions,
  setxattr,
  type XattrOptions,
} from "./xattr.ts";
