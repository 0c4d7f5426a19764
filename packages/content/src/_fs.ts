import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { fromSystemError } from "@strata/errdefs";

/**
 * Writes a small file so that readers see the old or the new content, never
 * a mix: a unique temporary beside it, fsync, rename, fsync of the directory.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o644,
): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    const fh = await open(tmp, "wx", mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

/** Makes a rename or an unlink in `dir` durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The errno code of a Node system error, if it is one. */
export function errnoOf(err: unknown): string | undefined {
  const code =
    typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

/** Throws the signal's reason when it is aborted. */
export function checkSignal(signal: AbortSignal | undefined): void {
  signal?.throwIfAborted();
}

/**
 * `fromSystemError`, except that a cancellation or deadline (the signal's
 * `AbortError` / `TimeoutError`) passes through unchanged, so callers can
 * still tell it apart.
 */
export function wrapError(err: unknown, context: string): Error {
  const name =
    typeof err === "object" && err !== null ? (err as { name?: unknown }).name : undefined;
  if ((name === "AbortError" || name === "TimeoutError") && err instanceof Error) return err;
  return fromSystemError(err, context);
}
