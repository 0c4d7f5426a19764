import { sysError } from "./_errors.ts";
import { native } from "./_native.ts";

// These calls are synchronous on purpose: each is one system call of a few
// microseconds on a local file system, and a trip through libuv's thread pool
// costs several times that (measured in README.md). The differ and the
// applier call them per file.

/** Options of the extended-attribute calls. */
export interface XattrOptions {
  /** Act on a symlink itself rather than its target (the `l*xattr` calls). Default false. */
  noFollow?: boolean;
}

/** Options of {@link setxattr}. */
export interface SetXattrOptions extends XattrOptions {
  /** Fail with AlreadyExists if it exists ("create") or NotFound if it does not ("replace"). */
  only?: "create" | "replace";
}

const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;

/**
 * Reads one extended attribute; `undefined` when the file has no such attribute.
 *
 * @throws {NotFoundError} when the file does not exist.
 * @throws {NotImplementedError} when the file system has no xattrs.
 * @example
 * ```ts
 * const cap = getxattr("/bin/ping", "security.capability", { noFollow: true });
 * ```
 */
export function getxattr(
  path: string,
  name: string,
  options: XattrOptions = {},
): Uint8Array | undefined {
  try {
    return native().getxattr(path, name, options.noFollow ?? false, false);
  } catch (err) {
    throw sysError(err, `cannot get xattr ${JSON.stringify(name)} of ${path}`);
  }
}

/**
 * Sets one extended attribute to the bytes given (any bytes, NUL included).
 *
 * @throws {PermissionDeniedError} for `trusted.*`/`security.*` without privilege.
 * @throws {NotImplementedError} when the file system does not support the namespace.
 * @throws {AlreadyExistsError}/{NotFoundError} with `only: "create"`/`"replace"`.
 */
export function setxattr(
  path: string,
  name: string,
  value: Uint8Array,
  options: SetXattrOptions = {},
): void {
  const flags =
    options.only === "create" ? XATTR_CREATE : options.only === "replace" ? XATTR_REPLACE : 0;
  try {
    native().setxattr(path, name, value, options.noFollow ?? false, flags, false);
  } catch (err) {
    throw sysError(err, `cannot set xattr ${JSON.stringify(name)} of ${path}`);
  }
}

/**
 * Lists the names of a file's extended attributes (those the caller may see).
 *
 * @throws {NotFoundError} when the file does not exist.
 */
export function listxattr(path: string, options: XattrOptions = {}): string[] {
  try {
    return native().listxattr(path, options.noFollow ?? false, false);
  } catch (err) {
    throw sysError(err, `cannot list xattrs of ${path}`);
  }
}

/**
 * Removes one extended attribute.
 *
 * @throws {NotFoundError} when the file or the attribute does not exist.
 */
export function removexattr(path: string, name: string, options: XattrOptions = {}): void {
  try {
    native().removexattr(path, name, options.noFollow ?? false, false);
  } catch (err) {
    throw sysError(err, `cannot remove xattr ${JSON.stringify(name)} of ${path}`);
  }
}

/**
 * Reads every extended attribute of a path, not following a final symlink,
 * in one native call: names to binary values, in the order the file system
 * lists them.
 *
 * @throws {NotFoundError} when the file does not exist.
 * @example
 * ```ts
 * for (const [name, value] of lgetxattrs("/rootfs/bin/ping")) console.log(name, value);
 * ```
 */
export function lgetxattrs(path: string): Map<string, Uint8Array> {
  let flat: Array<string | Uint8Array>;
  try {
    flat = native().getxattrs(path, true, false);
  } catch (err) {
    throw sysError(err, `cannot read xattrs of ${path}`);
  }
  const out = new Map<string, Uint8Array>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    out.set(flat[i] as string, flat[i + 1] as Uint8Array);
  }
  return out;
}
