import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";

/**
 * The path of the executable `name` on `PATH` (like `command -v`), or
 * `undefined` when there is none. Peers that are not installed are left out
 * of a benchmark rather than failing it.
 */
export async function findProgram(
  name: string,
  options?: { path?: string },
): Promise<string | undefined> {
  if (name === "" || name.includes("/")) return undefined;
  const dirs = (options?.path ?? process.env.PATH ?? "").split(delimiter).filter((d) => d !== "");
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here; try the next directory
    }
  }
  return undefined;
}
