import { lstatSync, readlinkSync, type Stats } from "node:fs";
import { InvalidArgumentError } from "@strata/errdefs";

/**
 * The components of an archive path, checked: no absolute path, no "..",
 * no NUL. "./a//b/" gives ["a", "b"]; "." gives []; so does "/" (umoci
 * writes the root of an `insert` at "/" that way, and it names nothing
 * outside).
 *
 * @throws {InvalidArgumentError} for an absolute path or a ".." component.
 */
export function archiveComponents(name: string, what: string): string[] {
  if (name.includes("\u0000")) {
    throw new InvalidArgumentError(`invalid layer: ${what} ${JSON.stringify(name)} contains NUL`);
  }
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  if (name.startsWith("/") && parts.length > 0) {
    throw new InvalidArgumentError(
      `invalid layer: ${what} ${JSON.stringify(name)} is an absolute path`,
    );
  }
  if (parts.includes("..")) {
    throw new InvalidArgumentError(
      `invalid layer: ${what} ${JSON.stringify(name)} has a ".." component`,
    );
  }
  return parts;
}

const MAX_LINKS = 255;

/**
 * Resolves directory components inside `root` the way a chroot would:
 * symlinks met on the way are followed, absolute targets taken relative to
 * root; the result is the real path of that directory under root, as
 * components. Missing components are returned as they are (the caller creates
 * them). A symlink whose ".." climbs above root is an escape.
 *
 * @throws {InvalidArgumentError} on an escape, a symlink loop, or a component
 *   that exists and is not a directory.
 */
export function resolveInRoot(root: string, components: readonly string[], what: string): string[] {
  const resolved: string[] = [];
  const pending = [...components];
  let links = 0;
  let missing = false;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (resolved.length === 0) {
        throw new InvalidArgumentError(
          `invalid layer: ${what} leads outside the root through a symlink`,
        );
      }
      resolved.pop();
      continue;
    }
    resolved.push(part);
    if (missing) continue;
    const full = `${root}/${resolved.join("/")}`;
    const st: Stats | undefined = lstatSync(full, { throwIfNoEntry: false });
    if (!st) {
      missing = true;
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) {
        throw new InvalidArgumentError(`invalid layer: ${what}: too many levels of symlinks`);
      }
      const target = readlinkSync(full);
      resolved.pop();
      if (target.startsWith("/")) resolved.length = 0;
      pending.unshift(...target.split("/"));
    } else if (!st.isDirectory()) {
      throw new InvalidArgumentError(
        `invalid layer: ${what}: parent ${JSON.stringify(resolved.join("/"))} is not a directory`,
      );
    }
  }
  return resolved;
}
