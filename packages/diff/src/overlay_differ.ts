import { readdirSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { NotImplementedError } from "@strata/errdefs";
import { lgetxattrs } from "@strata/sys";
import { type Meta, readMeta } from "./_meta.ts";
import { sameFile } from "./_same_file.ts";
import { changesToTar } from "./change_writer.ts";
import { type Change, compareNames } from "./changes.ts";
import { writeTar } from "./tar/write_tar.ts";
import { OVERLAY_OPAQUE_XATTRS } from "./whiteout.ts";

/** Options of {@link diffOverlay}. */
export interface OverlayDiffOptions {
  /** mtime of whiteout entries, seconds (default: now). */
  whiteoutTime?: number;
  signal?: AbortSignal;
}

// Overlay features a layer cannot express from the upperdir alone.
const REFUSED = [
  "trusted.overlay.redirect",
  "user.overlay.redirect",
  "trusted.overlay.metacopy",
  "user.overlay.metacopy",
];

function isOverlayInternal(name: string): boolean {
  return name.startsWith("trusted.overlay.") || name.startsWith("user.overlay.");
}

/**
 * The changes an overlayfs upperdir records over `lower` (a directory showing
 * the lower tree; undefined for none), found by walking the upperdir only,
 * so the cost follows the size of the change. Whiteouts (character devices
 * 0/0) become deletes when the path exists below; an opaque directory
 * (`trusted.overlay.opaque` or `user.overlay.opaque` = "y") is compared with
 * the lower one entry by entry, as BuildKit does.
 *
 * @throws {NotImplementedError} for a redirected directory or a metacopy file
 *   (`*.overlay.redirect`, `*.overlay.metacopy`): fall back to the walking differ.
 */
export async function* overlayChanges(
  lower: string | undefined,
  upperdir: string,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<Change, void, undefined> {
  // Make a missing upperdir fail here rather than look like an empty change.
  await readdir(upperdir);
  yield* walk(lower, upperdir, "", false, options.signal);
}

function upperMeta(full: string, path: string): { meta: Meta; opaque: boolean } {
  const meta = readMeta(full);
  if (!meta) throw new NotImplementedError(`overlay upper ${path} vanished while walking`);
  const raw = meta.stat.isSocket() ? new Map<string, Uint8Array>() : lgetxattrs(full);
  let opaque = false;
  for (const [name, value] of raw) {
    if (REFUSED.includes(name)) {
      throw new NotImplementedError(
        `cannot diff overlay upperdir: ${JSON.stringify(path)} has ${name}; use the walking differ`,
      );
    }
    if (OVERLAY_OPAQUE_XATTRS.includes(name) && value.length === 1 && value[0] === 0x79) {
      opaque = true;
    }
    if (isOverlayInternal(name)) meta.xattrs.delete(name);
  }
  return { meta, opaque };
}

async function* walk(
  lower: string | undefined,
  upperdir: string,
  rel: string,
  opaque: boolean,
  signal: AbortSignal | undefined,
): AsyncGenerator<Change, void, undefined> {
  signal?.throwIfAborted();
  const upperNames = readdirSync(rel ? `${upperdir}/${rel}` : upperdir).sort(compareNames);
  // Below an opaque directory nothing of the lower shows: what the upper
  // lacks is deleted.
  let lowerNames: string[] = [];
  if (opaque && lower !== undefined) {
    lowerNames = (await readdir(rel ? `${lower}/${rel}` : lower).catch(() => [])).sort(
      compareNames,
    );
  }
  let i = 0;
  for (const name of upperNames) {
    while (i < lowerNames.length && compareNames(lowerNames[i] as string, name) < 0) {
      yield { kind: "delete", path: rel ? `${rel}/${lowerNames[i]}` : (lowerNames[i] as string) };
      i++;
    }
    if (lowerNames[i] === name) i++;
    const path = rel ? `${rel}/${name}` : name;
    const full = `${upperdir}/${path}`;
    const { meta, opaque: isOpaque } = upperMeta(full, path);
    const lm = lower === undefined ? undefined : readMeta(`${lower}/${path}`);
    if (meta.stat.isCharacterDevice() && meta.stat.rdev === 0n) {
      if (lm) yield { kind: "delete", path };
      continue;
    }
    if (!lm) {
      yield { kind: "add", path, meta };
      if (meta.stat.isDirectory()) yield* walk(undefined, upperdir, path, false, signal);
      continue;
    }
    if (!sameFile(`${lower}/${path}`, full, lm, meta)) yield { kind: "modify", path, meta };
    if (meta.stat.isDirectory()) {
      const below = lm.stat.isDirectory() ? lower : undefined;
      yield* walk(below, upperdir, path, opaque || isOpaque, signal);
    }
  }
  for (; i < lowerNames.length; i++) {
    yield { kind: "delete", path: rel ? `${rel}/${lowerNames[i]}` : (lowerNames[i] as string) };
  }
}

/**
 * The uncompressed OCI layer an overlayfs upperdir stands for, over `lower`
 * (see {@link overlayChanges}); same entries and order as the walking differ
 * would give for the merged tree.
 *
 * @throws {NotImplementedError} (while streaming) for what the upperdir alone
 *   cannot express; use {@link diffDirectories} then.
 */
export function diffOverlay(
  lower: string | undefined,
  upperdir: string,
  options: OverlayDiffOptions = {},
): AsyncIterable<Uint8Array> {
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  const changeOptions = {
    ...signal,
    ...(options.whiteoutTime === undefined ? {} : { whiteoutTime: options.whiteoutTime }),
  };
  return writeTar(
    changesToTar(upperdir, overlayChanges(lower, upperdir, signal), changeOptions),
    signal,
  );
}
