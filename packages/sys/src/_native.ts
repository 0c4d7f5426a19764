import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UnavailableError } from "@strata/errdefs";

/** The functions of the compiled addon (see native/strata_sys.cc). */
export interface NativeSys {
  getxattr(path: string, name: string, nofollow: boolean, async: false): Uint8Array | undefined;
  getxattr(
    path: string,
    name: string,
    nofollow: boolean,
    async: true,
  ): Promise<Uint8Array | undefined>;
  setxattr(
    path: string,
    name: string,
    value: Uint8Array,
    nofollow: boolean,
    flags: number,
    async: false,
  ): undefined;
  setxattr(
    path: string,
    name: string,
    value: Uint8Array,
    nofollow: boolean,
    flags: number,
    async: true,
  ): Promise<undefined>;
  listxattr(path: string, nofollow: boolean, async: false): string[];
  listxattr(path: string, nofollow: boolean, async: true): Promise<string[]>;
  removexattr(path: string, name: string, nofollow: boolean, async: false): undefined;
  removexattr(path: string, name: string, nofollow: boolean, async: true): Promise<undefined>;
  getxattrs(path: string, nofollow: boolean, async: false): Array<string | Uint8Array>;
  getxattrs(path: string, nofollow: boolean, async: true): Promise<Array<string | Uint8Array>>;
  mknod(path: string, mode: number, major: number, minor: number, async: boolean): unknown;
  mount(
    source: string,
    target: string,
    fstype: string,
    flags: number,
    data: string,
    async: true,
  ): Promise<undefined>;
  umount2(target: string, flags: number, async: true): Promise<undefined>;
}

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
const SOURCE = join(PACKAGE_DIR, "native", "strata_sys.cc");

let loaded: NativeSys | undefined;

/** Where Node-API headers may be: STRATA_NODE_INCLUDE, Debian's nodejs, the running Node. */
function includeDirs(): string[] {
  const candidates = [
    process.env.STRATA_NODE_INCLUDE,
    join(dirname(process.execPath), "..", "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ];
  return candidates.filter((d): d is string => !!d && existsSync(join(d, "node_api.h")));
}

/**
 * Compiles the addon if the build for the current source is missing. The
 * output name carries the source's hash, so an edited source never loads a
 * stale build, and the file is renamed into place, so concurrent test workers
 * building at once do not see a half-written library.
 */
export function buildNative(options: { outDir?: string } = {}): string {
  const source = readFileSync(SOURCE);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const dirs = options.outDir
    ? [options.outDir]
    : [
        join(PACKAGE_DIR, "build"),
        join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "strata", "sys"),
        join(tmpdir(), `strata-sys-${process.getuid?.() ?? 0}`),
      ];
  for (const dir of dirs) {
    const out = join(dir, `strata_sys-${hash}-${process.arch}.node`);
    if (existsSync(out)) return out;
  }
  const includes = includeDirs();
  if (includes.length === 0) {
    throw new UnavailableError(
      "cannot build @strata/sys native addon: no node_api.h found (install Debian package nodejs, or set STRATA_NODE_INCLUDE)",
    );
  }
  const cxx = process.env.CXX ?? "g++";
  let lastError: unknown;
  for (const dir of dirs) {
    const out = join(dir, `strata_sys-${hash}-${process.arch}.node`);
    const partial = `${out}.${process.pid}.${Date.now()}.tmp`;
    try {
      mkdirSync(dir, { recursive: true });
      execFileSync(
        cxx,
        [
          "-O2",
          "-std=c++17",
          "-shared",
          "-fPIC",
          "-DNODE_GYP_MODULE_NAME=strata_sys",
          `-I${includes[0]}`,
          "-o",
          partial,
          SOURCE,
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      renameSync(partial, out);
      return out;
    } catch (err) {
      rmSync(partial, { force: true });
      lastError = err;
      const code = (err as { code?: unknown }).code;
      if (code === "ENOENT") break; // no compiler: another directory will not help
    }
  }
  const stderr = String((lastError as { stderr?: unknown }).stderr ?? "").trim();
  throw new UnavailableError(
    `cannot build @strata/sys native addon with ${cxx} (install Debian packages g++ and nodejs, or set STRATA_SYS_ADDON to a prebuilt strata_sys.node)${stderr ? `: ${stderr}` : ""}`,
    { cause: lastError },
  );
}

/**
 * The addon, loaded once: STRATA_SYS_ADDON if set, otherwise built on first
 * use from native/strata_sys.cc.
 *
 * @throws {UnavailableError} when it can be neither found nor built.
 */
export function native(): NativeSys {
  if (loaded) return loaded;
  const path = process.env.STRATA_SYS_ADDON || buildNative();
  try {
    loaded = createRequire(import.meta.url)(path) as NativeSys;
  } catch (err) {
    throw new UnavailableError(`cannot load @strata/sys native addon ${path}`, { cause: err });
  }
  return loaded;
}
