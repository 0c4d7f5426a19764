import { changesToTar } from "./change_writer.ts";
import { walkChanges } from "./changes.ts";
import { writeTar } from "./tar/write_tar.ts";

/** Options of {@link diffDirectories}. */
export interface DiffOptions {
  /** mtime of whiteout entries, seconds (default: now). Fix it for reproducible layers. */
  whiteoutTime?: number;
  signal?: AbortSignal;
}

/**
 * The uncompressed OCI layer (tar) that turns `lower` into `upper`, by
 * walking both trees (containerd's walking differ). `lower` undefined means
 * an empty tree. Compress and store it with {@link writeLayer}.
 *
 * @throws {NotFoundError} when `upper` does not exist.
 * @example
 * ```ts
 * const { descriptor, diffID } = await writeLayer(store, diffDirectories(lower, upper), {
 *   compression: "gzip",
 * });
 * ```
 */
export function diffDirectories(
  lower: string | undefined,
  upper: string,
  options: DiffOptions = {},
): AsyncIterable<Uint8Array> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const changeOptions = {
    ...signal,
    ...(options.whiteoutTime === undefined ? {} : { whiteoutTime: options.whiteoutTime }),
  };
  return writeTar(changesToTar(upper, walkChanges(lower, upper, signal), changeOptions), signal);
}
