/**
 * The layer of every library package and app, from DESIGN.md's package map.
 * Imports point down only: a package may import packages of lower layers, not
 * of its own layer (sideways) or above. Apps (layer 7) may import any
 * package but not each other. A workspace package under `packages/` or
 * `apps/` that is not listed here is an error, so that adding a package
 * means placing it here on purpose.
 */
export const LAYERS: Readonly<Record<string, number>> = {
  "@strata/errdefs": 0,
  "@strata/oci": 1,
  "@strata/flightcontrol": 1,
  "@strata/filters": 1,
  // Not in DESIGN.md's map: the system-call module DESIGN.md asks for
  // (xattrs, mknod, mount); snapshots and diff use it.
  "@strata/sys": 1,
  "@strata/content": 2,
  "@strata/snapshots": 2,
  "@strata/leases": 2,
  "@strata/compression": 2,
  "@strata/api": 2,
  "@strata/metadata": 3,
  "@strata/diff": 3,
  "@strata/registry": 3,
  "@strata/cache": 4,
  "@strata/remotecache": 5,
  "@strata/core": 6,
  "@strata/cli": 7,
  "@strata/daemon": 7,
};

/** The layer of the apps; nothing may import an app. */
export const APP_LAYER = 7;

/**
 * What a workspace package is for the layer rules: a library package with a
 * layer, an app, or a tool (`tools/*`, `test-e2e`) that may import any
 * package but no app.
 */
export type PackageRole =
  | { kind: "package"; layer: number }
  | { kind: "app"; layer: number }
  | { kind: "tool" }
  | { kind: "unlisted" };

/**
 * The role of the workspace package `name` found at `dir` (its path relative
 * to the repository root, with `/` separators): by the layer table first,
 * then tools by location, else unlisted.
 */
export function roleOf(
  name: string,
  dir: string,
  layers: Readonly<Record<string, number>> = LAYERS,
): PackageRole {
  const layer = layers[name];
  if (layer !== undefined) {
    return layer >= APP_LAYER ? { kind: "app", layer } : { kind: "package", layer };
  }
  if (dir.startsWith("tools/") || dir === "test-e2e") return { kind: "tool" };
  return { kind: "unlisted" };
}
