import { readdirSync } from "node:fs";
import { stat } from "node:fs/promises";
import { fromSystemError, InvalidArgumentError } from "@strata/errdefs";
import { type Meta, readMeta } from "./_meta.ts";
import { sameFile } from "./_same_file.ts";

/** One difference between two trees, as containerd's fs.Changes reports it. */
export interface Change {
  /**
   * "unmodified" is reported only for regular files with several links, so a
   * writer can keep hardlinks to changed files (containerd does the same).
   */
  kind: "add" | "modify" | "delete" | "unmodified";
  /** Path relative to the roots, "/"-separated, no leading slash. */
  path: string;
  /** Metadata of the upper path (add, modify). */
  meta?: Meta;
}

/** Options of {@link walkChanges}. */
export interface WalkChangesOptions {
  signal?: AbortSignal;
}

function names(dir: string): string[] {
  try {
    return readdirSync(dir).sort(compareNames);
  } catch (err) {
    if ((err as { code?: unknown }).code === "ENOENT") return [];
    throw err;
  }
}

/** Byte order of names, as Go sorts directory entries. */
export function compareNames(a: string, b: string): number {
  // UTF-16 order equals UTF-8 byte order except around surrogates.
  if (!/[\ud800-\udfff]/.test(a) && !/[\ud800-\udfff]/.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Walks `lower` and `upper` side by side and yields what changed, depth
 * first with siblings in byte order (containerd's order). A deleted directory
 * is one delete; a directory replaced by a non-directory is a modify whose
 * old children are not reported. Unchanged files are decided by metadata
 * where it can: same type, mode, owner, device, xattrs, size and mtime
 * seconds; contents are read only when both mtimes have zero nanoseconds
 * (the state after tar extraction), as continuity's sameFile does.
 *
 * @throws {NotFoundError} when `lower` or `upper` does not exist.
 * @example
 * ```ts
 * for await (const c of walkChanges("/snap/1/fs", "/snap/2/fs")) console.log(c.kind, c.path);
 * ```
 */
export async function* walkChanges(
  lower: string | undefined,
  upper: string,
  options: WalkChangesOptions = {},
): AsyncGenerator<Change, void, undefined> {
  for (const [what, dir] of [
    ["upper", upper],
    ["lower", lower],
  ] as const) {
    if (dir === undefined) continue;
    const st = await stat(dir).catch((err: unknown) => {
      throw fromSystemError(err, `cannot diff ${what} ${dir}`);
    });
    if (!st.isDirectory())
      throw new InvalidArgumentError(`cannot diff ${what} ${dir}: not a directory`);
  }
  yield* walkDir(lower, upper, "", options.signal);
}

function join(rel: string, name: string): string {
  return rel ? `${rel}/${name}` : name;
}

async function* walkDir(
  lower: string | undefined,
  upper: string,
  rel: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<Change, void, undefined> {
  signal?.throwIfAborted();
  const ln = lower === undefined ? [] : names(rel ? `${lower}/${rel}` : lower);
  const un = names(rel ? `${upper}/${rel}` : upper);
  let i = 0;
  let j = 0;
  while (i < ln.length || j < un.length) {
    const a = ln[i];
    const b = un[j];
    const order = a === undefined ? 1 : b === undefined ? -1 : compareNames(a, b);
    if (order < 0) {
      yield { kind: "delete", path: join(rel, a as string) };
      i++;
      continue;
    }
    const path = join(rel, b as string);
    j++;
    if (order > 0) {
      yield* addTree(upper, path, signal);
      continue;
    }
    i++;
    const [lm, um] = await Promise.all([
      readMeta(`${lower}/${path}`),
      readMeta(`${upper}/${path}`),
    ]);
    if (!um) continue; // removed while walking
    if (!lm) {
      yield* addTree(upper, path, signal);
      continue;
    }
    const same = sameFile(`${lower}/${path}`, `${upper}/${path}`, lm, um);
    if (!same) yield { kind: "modify", path, meta: um };
    else if (um.stat.isFile() && um.stat.nlink > 1n) yield { kind: "unmodified", path, meta: um };
    if (um.stat.isDirectory()) {
      if (lm.stat.isDirectory()) yield* walkDir(lower, upper, path, signal);
      else yield* walkDir(undefined, upper, path, signal);
    }
  }
}

async function* addTree(
  upper: string,
  path: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<Change, void, undefined> {
  const meta = readMeta(`${upper}/${path}`);
  if (!meta) return;
  yield { kind: "add", path, meta };
  if (meta.stat.isDirectory()) yield* walkDir(undefined, upper, path, signal);
}
