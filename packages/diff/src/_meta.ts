import { type BigIntStats, lstatSync } from "node:fs";
import { lgetxattrs } from "@strata/sys";

/** A path's lstat with nanosecond times and the xattrs that belong in a layer. */
export interface Meta {
  stat: BigIntStats;
  xattrs: Map<string, Uint8Array>;
}

// Overlayfs keeps its own bookkeeping in these; they never go into a layer.
function isOverlayInternal(name: string): boolean {
  return name.startsWith("trusted.overlay.") || name.startsWith("user.overlay.");
}

/**
 * lstat plus xattrs (overlay-internal ones left out); undefined when missing.
 * Synchronous on purpose: two system calls of a few microseconds, where a
 * thread-pool round trip costs tens (see DESIGN-NOTE.md, "Speed").
 */
export function readMeta(path: string): Meta | undefined {
  const stat = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (!stat) return undefined;
  const xattrs = new Map<string, Uint8Array>();
  if (!stat.isSocket()) {
    for (const [k, v] of lgetxattrs(path)) if (!isOverlayInternal(k)) xattrs.set(k, v);
  }
  return { stat, xattrs };
}

/** Whether two xattr maps hold the same names and bytes. */
export function sameXattrs(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.length !== v.length) return false;
    for (let i = 0; i < v.length; i++) if (v[i] !== w[i]) return false;
  }
  return true;
}
