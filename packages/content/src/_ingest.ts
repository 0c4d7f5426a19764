import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { FailedPreconditionError, NotFoundError } from "@strata/errdefs";
import { type Digest, isDigest } from "@strata/oci";
import { writeFileAtomic } from "./_fs.ts";
import type { Status } from "./content.ts";

// Files of one ingest directory (containerd's names, plus `expected`, which
// containerd keeps in its metadata layer instead).
export const DATA = "data";
export const REF = "ref";
export const STARTED_AT = "startedat";
export const UPDATED_AT = "updatedat";
export const TOTAL = "total";
export const EXPECTED = "expected";

/** Reads a timestamp file; an empty file is the zero time, as in containerd. */
export async function readTimestamp(path: string): Promise<Date> {
  const text = (await readFile(path, "utf8")).trim();
  if (text === "") return new Date(0);
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    throw new FailedPreconditionError(`timestamp file ${path} holds ${JSON.stringify(text)}`);
  }
  return date;
}

export async function writeTimestamp(path: string, date: Date): Promise<void> {
  await writeFileAtomic(path, date.toISOString());
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return undefined;
    throw err;
  }
}

/** The recorded total, or 0 when absent or unreadable (containerd treats both as unknown). */
export async function readTotal(dir: string): Promise<number> {
  const text = await readOptional(join(dir, TOTAL));
  if (text === undefined) return 0;
  const total = Number(text.trim());
  return Number.isSafeInteger(total) && total > 0 ? total : 0;
}

export async function readExpected(dir: string): Promise<Digest | undefined> {
  const text = (await readOptional(join(dir, EXPECTED)))?.trim();
  // Written by this store from a validated digest; a damaged file reads as absent.
  return text === undefined || !isDigest(text) ? undefined : text;
}

/**
 * The status of the ingest in `dir` from its files: offset is the size of
 * `data`, updatedAt the later of the `updatedat` file and the data's mtime
 * (writes do not rewrite `updatedat`).
 *
 * @throws {NotFoundError} when `data` or `ref` is missing.
 */
export async function readStatus(dir: string): Promise<Status> {
  let dataStat: Awaited<ReturnType<typeof stat>>;
  let ref: string;
  try {
    dataStat = await stat(join(dir, DATA));
    ref = await readFile(join(dir, REF), "utf8");
  } catch (err) {
    if (
      (err as { code?: unknown }).code === "ENOENT" ||
      (err as { code?: unknown }).code === "ENOTDIR"
    ) {
      throw new NotFoundError(`ingest ${dir}: not found`, { cause: err });
    }
    throw err;
  }
  const startedAt = await readTimestamp(join(dir, STARTED_AT));
  let updatedAt = await readTimestamp(join(dir, UPDATED_AT));
  if (dataStat.mtime > updatedAt) updatedAt = dataStat.mtime;
  const status: Status = {
    ref,
    offset: dataStat.size,
    total: await readTotal(dir),
    startedAt,
    updatedAt,
  };
  const expected = await readExpected(dir);
  if (expected !== undefined) status.expected = expected;
  return status;
}
