/**
 * Run one computation per key at a time and share its result with every
 * caller that asks for that key meanwhile (BuildKit's flightcontrol); and a
 * cross-process lock per key ({@link acquireFileLock}) for work that several
 * processes on one host share.
 *
 * @example
 * ```ts
 * import { Group } from "@strata/flightcontrol";
 *
 * const sizes = new Group<number>();
 * const size = await sizes.do("ref-1", (signal) => computeSize("ref-1", { signal }));
 * ```
 *
 * @module
 */
export {
  acquireFileLock,
  FileLock,
  type FileLockOptions,
  type FileLockOwner,
  fileLockPath,
} from "./file_lock.ts";
export { type DoOptions, Group } from "./group.ts";
