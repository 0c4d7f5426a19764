import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  fromSystemError,
  InvalidArgumentError,
  isSystemError,
  NotFoundError,
} from "@strata/errdefs";

/** A package of the pnpm workspace, as its package.json declares it. */
export interface WorkspacePackage {
  /** The package name, e.g. `@strata/oci`. */
  name: string;
  /** Its directory relative to the repository root, `/`-separated (`packages/oci`). */
  dir: string;
  /** `dependencies`, `peerDependencies` and `optionalDependencies` together. */
  dependencies: Readonly<Record<string, string>>;
  /** `devDependencies`. */
  devDependencies: Readonly<Record<string, string>>;
}

/** Options of {@link readWorkspace}. */
export interface ReadWorkspaceOptions {
  signal?: AbortSignal;
}

/**
 * Reads the `packages:` globs of a `pnpm-workspace.yaml`. Supports what this
 * repository uses: exact directories, `dir/*`, and `!`-negated entries.
 *
 * @throws {InvalidArgumentError} for a glob other than those forms.
 */
export function parseWorkspaceGlobs(yaml: string): { include: string[]; exclude: string[] } {
  const include: string[] = [];
  const exclude: string[] = [];
  let inPackages = false;
  for (const raw of yaml.split("\n")) {
    const line = raw.replace(/\s+#.*$/, "").trimEnd();
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    if (/^\S/.test(line)) {
      inPackages = /^packages\s*:\s*$/.test(line);
      continue;
    }
    if (!inPackages) continue;
    const item = /^\s*-\s*(.+)$/.exec(line)?.[1]?.trim();
    if (item === undefined) continue;
    const glob = item.replace(/^(['"])(.*)\1$/, "$2").replace(/\/+$/, "");
    const negated = glob.startsWith("!");
    const pattern = negated ? glob.slice(1) : glob;
    const base = pattern.endsWith("/*") ? pattern.slice(0, -2) : pattern;
    if (/[*?[\]{}]/.test(base) || base === "" || base.startsWith("/") || base.includes("..")) {
      throw new InvalidArgumentError(
        `cannot read pnpm-workspace.yaml: unsupported package glob "${glob}" (use "dir" or "dir/*")`,
      );
    }
    (negated ? exclude : include).push(pattern);
  }
  return { include, exclude };
}

function matches(pattern: string, dir: string): boolean {
  if (pattern.endsWith("/*")) {
    const base = pattern.slice(0, -2);
    return dir.startsWith(`${base}/`) && !dir.slice(base.length + 1).includes("/");
  }
  return dir === pattern;
}

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, "utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`cannot parse ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof value !== "object" || value === null) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  return out;
}

/**
 * Lists the packages of the pnpm workspace at `rootDir`: every directory
 * matched by `pnpm-workspace.yaml` that holds a `package.json` (directories
 * without one, like `tools/bootstrap`, are not packages). Sorted by dir.
 *
 * @throws {NotFoundError} when `rootDir` has no `pnpm-workspace.yaml`.
 * @throws {InvalidArgumentError} for an unsupported glob, a package.json that
 *   is not JSON, or one without a string `name`.
 */
export async function readWorkspace(
  rootDir: string,
  options?: ReadWorkspaceOptions,
): Promise<WorkspacePackage[]> {
  let yaml: string;
  try {
    yaml = await readFile(join(rootDir, "pnpm-workspace.yaml"), "utf8");
  } catch (err) {
    if (isSystemError(err, "ENOENT")) {
      throw new NotFoundError(`cannot read workspace at "${rootDir}": no pnpm-workspace.yaml`, {
        cause: err,
      });
    }
    throw fromSystemError(err, `cannot read workspace at "${rootDir}"`);
  }
  const { include, exclude } = parseWorkspaceGlobs(yaml);
  const dirs = new Set<string>();
  for (const pattern of include) {
    if (!pattern.endsWith("/*")) {
      dirs.add(pattern);
      continue;
    }
    const base = pattern.slice(0, -2);
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(join(rootDir, base), { withFileTypes: true });
    } catch (err) {
      if (isSystemError(err, "ENOENT")) continue;
      throw fromSystemError(err, `cannot list workspace directory "${base}"`);
    }
    for (const e of entries) if (e.isDirectory()) dirs.add(`${base}/${e.name}`);
  }

  const packages: WorkspacePackage[] = [];
  for (const dir of [...dirs].sort()) {
    options?.signal?.throwIfAborted();
    if (exclude.some((p) => matches(p, dir))) continue;
    const manifestPath = join(rootDir, dir, "package.json");
    let manifest: unknown;
    try {
      manifest = await readJson(manifestPath);
    } catch (err) {
      if (isSystemError(err, "ENOENT")) continue;
      throw fromSystemError(err, `cannot read ${dir}/package.json`);
    }
    const m = (typeof manifest === "object" && manifest !== null ? manifest : {}) as Record<
      string,
      unknown
    >;
    if (typeof m.name !== "string" || m.name === "") {
      throw new InvalidArgumentError(`cannot check ${dir}/package.json: it has no "name"`);
    }
    packages.push({
      name: m.name,
      dir,
      dependencies: {
        ...stringRecord(m.optionalDependencies),
        ...stringRecord(m.peerDependencies),
        ...stringRecord(m.dependencies),
      },
      devDependencies: stringRecord(m.devDependencies),
    });
  }
  return packages;
}
