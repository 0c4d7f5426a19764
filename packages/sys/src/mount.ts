import { InvalidArgumentError, NotFoundError, NotImplementedError } from "@strata/errdefs";
import { sysError } from "./_errors.ts";
import { native } from "./_native.ts";

/** A mount as containerd describes one: `mount -t <type> -o <options> <source> <target>`. */
export interface Mount {
  /** File system type: "overlay", "bind", "tmpfs", ... ("bind" is not a kernel type; see options). */
  type: string;
  /** What to mount: a device, a directory for bind mounts, or a label like "overlay". */
  source: string;
  /** Where to mount it. */
  target: string;
  /** fstab-style options: flags (ro, bind, rbind, nosuid, ...) and data (lowerdir=..., ...). */
  options?: string[];
}

/** The result of {@link parseMountOptions}. */
export interface ParsedMountOptions {
  /** mount(2) flags (MS_*), without propagation. */
  flags: number;
  /** Propagation flags (MS_PRIVATE, MS_SHARED, ... with MS_REC), applied by a second call. */
  propagation: number;
  /** Options the kernel reads as data, joined with commas. */
  data: string;
}

/** mount(2) flag values (Linux, all architectures Node supports). */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  REC: 0x4000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
} as const;

// option → [clear?, flag]; the same table mount(8) and containerd use.
const FLAG_OPTIONS: Readonly<Record<string, readonly [boolean, number]>> = {
  async: [true, MS.SYNCHRONOUS],
  atime: [true, MS.NOATIME],
  bind: [false, MS.BIND],
  defaults: [false, 0],
  dev: [true, MS.NODEV],
  diratime: [true, MS.NODIRATIME],
  dirsync: [false, MS.DIRSYNC],
  exec: [true, MS.NOEXEC],
  mand: [false, MS.MANDLOCK],
  noatime: [false, MS.NOATIME],
  nodev: [false, MS.NODEV],
  nodiratime: [false, MS.NODIRATIME],
  noexec: [false, MS.NOEXEC],
  nomand: [true, MS.MANDLOCK],
  norelatime: [true, MS.RELATIME],
  nostrictatime: [true, MS.STRICTATIME],
  nosuid: [false, MS.NOSUID],
  rbind: [false, MS.BIND | MS.REC],
  relatime: [false, MS.RELATIME],
  remount: [false, MS.REMOUNT],
  ro: [false, MS.RDONLY],
  rw: [true, MS.RDONLY],
  strictatime: [false, MS.STRICTATIME],
  suid: [true, MS.NOSUID],
  sync: [false, MS.SYNCHRONOUS],
};

const PROPAGATION_OPTIONS: Readonly<Record<string, number>> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

// The kernel copies at most one page of mount data.
const MAX_DATA = 4095;

/**
 * Splits fstab-style options into mount(2) flags, propagation flags and the
 * data string, as containerd does: known flag words set or clear flags, the
 * rest is data joined with commas, in order.
 *
 * @throws {InvalidArgumentError} for an option containing a comma (the kernel would split it).
 * @throws {NotImplementedError} for `loop` (loop devices are not supported).
 * @example
 * ```ts
 * parseMountOptions(["ro", "lowerdir=/a:/b"]); // { flags: MS.RDONLY, propagation: 0, data: "lowerdir=/a:/b" }
 * ```
 */
export function parseMountOptions(options: readonly string[]): ParsedMountOptions {
  let flags = 0;
  let propagation = 0;
  const data: string[] = [];
  for (const option of options) {
    if (option.includes(",")) {
      throw new InvalidArgumentError(
        `invalid mount option ${JSON.stringify(option)}: options are separate items, not comma-joined`,
      );
    }
    const flag = Object.hasOwn(FLAG_OPTIONS, option) ? FLAG_OPTIONS[option] : undefined;
    if (flag) {
      flags = flag[0] ? flags & ~flag[1] : flags | flag[1];
    } else if (Object.hasOwn(PROPAGATION_OPTIONS, option)) {
      propagation |= PROPAGATION_OPTIONS[option] ?? 0;
    } else if (option === "loop") {
      throw new NotImplementedError(
        "cannot mount with option loop: loop devices are not supported",
      );
    } else if (option !== "") {
      data.push(option);
    }
  }
  return { flags, propagation, data: data.join(",") };
}

/**
 * Mounts `m` (needs CAP_SYS_ADMIN). A read-only bind mount is made, as the
 * kernel requires, by a bind then a read-only remount; propagation options by
 * a further call.
 *
 * @throws {InvalidArgumentError} when the data options exceed one page.
 * @throws {PermissionDeniedError} without privilege; other failures by errno class.
 * @example
 * ```ts
 * await mount({
 *   type: "overlay",
 *   source: "overlay",
 *   target: "/mnt/merged",
 *   options: ["lowerdir=/l", "upperdir=/u", "workdir=/w"],
 * });
 * ```
 */
export async function mount(m: Mount, options: { signal?: AbortSignal } = {}): Promise<void> {
  options.signal?.throwIfAborted();
  const parsed = parseMountOptions(m.options ?? []);
  if (parsed.data.length > MAX_DATA) {
    throw new InvalidArgumentError(
      `cannot mount ${m.type} at ${m.target}: options are ${parsed.data.length} bytes, the kernel takes at most ${MAX_DATA}`,
    );
  }
  const sys = native();
  const what = `cannot mount ${m.type} ${m.source} at ${m.target}`;
  // "bind" is containerd's type for bind mounts; the kernel ignores the type then.
  const fstype = parsed.flags & MS.BIND ? "" : m.type;
  try {
    await sys.mount(m.source, m.target, fstype, parsed.flags, parsed.data, true);
  } catch (err) {
    throw sysError(err, what);
  }
  try {
    const readOnlyBind = MS.BIND | MS.RDONLY;
    if ((parsed.flags & readOnlyBind) === readOnlyBind) {
      await sys.mount("", m.target, "", parsed.flags | MS.REMOUNT, "", true);
    }
    if (parsed.propagation !== 0) {
      await sys.mount("", m.target, "", parsed.propagation, "", true);
    }
  } catch (err) {
    await sys.umount2(m.target, MNT_DETACH, true).catch(() => {});
    throw sysError(err, `${what}: second step`);
  }
}

const MNT_DETACH = 2;

/** Options of {@link unmount}. */
export interface UnmountOptions {
  /** Lazy unmount (MNT_DETACH): detach now, clean up when no longer busy. */
  detach?: boolean;
  signal?: AbortSignal;
}

/**
 * Unmounts `target`, retrying a few times for 50 ms while it is busy (EBUSY),
 * as containerd does.
 *
 * @throws {NotFoundError} when nothing is mounted there (EINVAL) or the target is missing.
 * @throws {UnavailableError} when still busy after the retries.
 */
export async function unmount(target: string, options: UnmountOptions = {}): Promise<void> {
  const flags = options.detach ? MNT_DETACH : 0;
  for (let attempt = 0; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      await native().umount2(target, flags, true);
      return;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === "EINVAL") {
        throw new NotFoundError(`cannot unmount ${target}: not a mount point`, { cause: err });
      }
      if (code !== "EBUSY" || attempt >= 10) throw sysError(err, `cannot unmount ${target}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
