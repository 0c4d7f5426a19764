/** The kinds of entry a layer tar holds. */
export type TarEntryType = "file" | "link" | "symlink" | "char" | "block" | "directory" | "fifo";

/**
 * One tar entry's metadata, after PAX and GNU long-name records are merged in.
 *
 * Times are seconds since the epoch and may carry a fraction (PAX keeps up to
 * nanoseconds; a JavaScript number keeps about a tenth of a microsecond today).
 */
export interface TarHeader {
  /** Path inside the archive, as written (directories usually end with "/"). */
  name: string;
  type: TarEntryType;
  /** Permission bits with setuid/setgid/sticky (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Bytes of the body; 0 for anything but "file". */
  size: number;
  /** Modification time, seconds since the epoch (may be fractional). */
  mtime: number;
  /** Access time, when the archive records one (PAX). */
  atime?: number;
  /** Change time, when the archive records one (PAX). */
  ctime?: number;
  /** Target of a symlink or hardlink. */
  linkname?: string;
  uname?: string;
  gname?: string;
  /** Device numbers of "char" and "block" entries. */
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (`SCHILY.xattr.<name>`), values as raw bytes. */
  xattrs?: Map<string, Uint8Array>;
  /** Other PAX records the codec does not interpret, kept as raw bytes. */
  pax?: Map<string, Uint8Array>;
}
