import { InvalidArgumentError } from "@strata/errdefs";
import { sysError } from "./_errors.ts";
import { native } from "./_native.ts";

/** What {@link mknod} creates. */
export interface MknodSpec {
  /** A character device, a block device or a named pipe. */
  type: "char" | "block" | "fifo";
  /** Device major number (devices only; default 0). */
  major?: number;
  /** Device minor number (devices only; default 0). */
  minor?: number;
  /** Permission bits, umask applied by the kernel (default 0o600). */
  mode?: number;
}

const TYPE_BITS = { char: 0o020000, block: 0o060000, fifo: 0o010000 } as const;

// Synchronous like the xattr calls: one system call.

/**
 * Creates a device node or a FIFO; an overlay whiteout is `{ type: "char", major: 0, minor: 0 }`.
 *
 * @throws {InvalidArgumentError} for an unknown type or numbers out of range.
 * @throws {AlreadyExistsError} when the path exists.
 * @throws {PermissionDeniedError} for devices without CAP_MKNOD.
 * @example
 * ```ts
 * mknod("/upper/etc/removed", { type: "char", major: 0, minor: 0 });
 * ```
 */
export function mknod(path: string, spec: MknodSpec): void {
  const bits = TYPE_BITS[spec.type];
  if (bits === undefined) {
    throw new InvalidArgumentError(`cannot mknod ${path}: unknown type ${String(spec.type)}`);
  }
  const major = spec.major ?? 0;
  const minor = spec.minor ?? 0;
  const mode = spec.mode ?? 0o600;
  // Linux dev_t keeps 12 bits of major and 20 of minor.
  if (!Number.isInteger(major) || major < 0 || major > 0xfff) {
    throw new InvalidArgumentError(`cannot mknod ${path}: major ${major} out of range`);
  }
  if (!Number.isInteger(minor) || minor < 0 || minor > 0xfffff) {
    throw new InvalidArgumentError(`cannot mknod ${path}: minor ${minor} out of range`);
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new InvalidArgumentError(`cannot mknod ${path}: mode ${mode.toString(8)} out of range`);
  }
  try {
    native().mknod(path, bits | mode, major, minor, false);
  } catch (err) {
    throw sysError(err, `cannot mknod ${spec.type} ${major}:${minor} at ${path}`);
  }
}
