import type { FileHandle } from "node:fs/promises";
import { FailedPreconditionError, fromSystemError } from "@strata/errdefs";

/**
 * Random access to one blob. `readAt` fills as much of `buffer` as the blob
 * has from `offset` and returns the count: short (possibly 0) at the end.
 */
export interface ReaderAt {
  readonly size: number;
  readAt(buffer: Uint8Array, offset: number): Promise<number>;
  /** Releases the reader; calling it twice is harmless. */
  close(): Promise<void>;
}

/**
 * A {@link ReaderAt} over an open file; it owns the handle and closes it.
 * `what` names the file in error messages.
 */
export function fileReaderAt(handle: FileHandle, size: number, what: string): ReaderAt {
  let closed = false;
  return {
    size,
    async readAt(buffer: Uint8Array, offset: number): Promise<number> {
      if (closed) throw new FailedPreconditionError(`cannot read ${what}: reader is closed`);
      if (offset >= size || buffer.byteLength === 0) return 0;
      let filled = 0;
      try {
        // Fill the buffer unless the file ends: a short read is not the end.
        while (filled < buffer.byteLength && offset + filled < size) {
          const { bytesRead } = await handle.read(
            buffer,
            filled,
            buffer.byteLength - filled,
            offset + filled,
          );
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
      } catch (err) {
        throw fromSystemError(err, `cannot read ${what} at ${offset}`);
      }
      return filled;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
