import { type FileHandle, open } from "node:fs/promises";
import { FailedPreconditionError, fromSystemError, InvalidArgumentError } from "@strata/errdefs";
import type { ReaderAt } from "./content.ts";

/** A {@link ReaderAt} over one open file. */
export class FileReaderAt implements ReaderAt {
  readonly size: number;
  readonly #fh: FileHandle;
  readonly #name: string;
  #closed = false;

  private constructor(fh: FileHandle, size: number, name: string) {
    this.#fh = fh;
    this.size = size;
    this.#name = name;
  }

  /** Opens `path`; `name` (a digest) is what error messages call it. */
  static async open(path: string, name: string): Promise<FileReaderAt> {
    let fh: FileHandle;
    try {
      fh = await open(path, "r");
    } catch (err) {
      throw fromSystemError(err, `cannot open blob ${name}`);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new FailedPreconditionError(`blob ${name} is not a regular file`);
      return new FileReaderAt(fh, st.size, name);
    } catch (err) {
      await fh.close();
      throw fromSystemError(err, `cannot stat blob ${name}`);
    }
  }

  async readAt(buffer: Uint8Array, offset: number): Promise<number> {
    if (this.#closed) throw new FailedPreconditionError(`reader of blob ${this.#name} is closed`);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(`cannot read blob ${this.#name} at offset ${offset}`);
    }
    let filled = 0;
    while (filled < buffer.length && offset + filled < this.size) {
      const { bytesRead } = await this.#fh.read(
        buffer,
        filled,
        Math.min(buffer.length - filled, this.size - offset - filled),
        offset + filled,
      );
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#fh.close();
  }
}
