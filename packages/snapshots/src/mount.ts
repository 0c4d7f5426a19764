import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromSystemError, InvalidArgumentError, isNotFound, isUnavailable } from "@strata/errdefs";
import { mount, parseMountOptions, unmount } from "@strata/sys";
import type { Mount } from "./snapshotter.ts";

/** Options of the functions that mount. */
export interface MountOptions {
  signal?: AbortSignal;
}

const isBind = (m: Mount): boolean =>
  m.type === "bind" || m.options.includes("bind") || m.options.includes("rbind");

const option = (m: Mount, name: string): string | undefined =>
  m.options.find((o) => o.startsWith(`${name}=`))?.slice(name.length + 1);

/**
 * The read-only form of `mounts` (BuildKit's read-only mounter): a bind
 * gains `ro`; an overlay drops its upperdir and workdir and puts the
 * upperdir on top of its lowerdirs, so the mount shows the same tree and
 * cannot be written. An overlay left with one lower directory becomes a
 * read-only bind of it (overlayfs needs two).
 *
 * @example
 * ```ts
 * readonlyMounts([{ type: "overlay", source: "overlay", options: ["workdir=/w", "upperdir=/u", "lowerdir=/l"] }]);
 * // [{ type: "overlay", source: "overlay", options: ["lowerdir=/u:/l"] }]
 * ```
 */
export function readonlyMounts(mounts: readonly Mount[]): Mount[] {
  return mounts.map((m): Mount => {
    if (m.type === "overlay") {
      const upper = option(m, "upperdir");
      const lower = option(m, "lowerdir");
      const layers = [...(upper === undefined ? [] : [upper]), ...(lower?.split(":") ?? [])];
      const rest = m.options.filter(
        (o) =>
          !o.startsWith("upperdir=") &&
          !o.startsWith("workdir=") &&
          !o.startsWith("lowerdir=") &&
          o !== "rw",
      );
      if (layers.length === 1) {
        return { type: "bind", source: layers[0] as string, options: ["ro", "rbind"] };
      }
      return {
        type: "overlay",
        source: m.source,
        options: [...rest, `lowerdir=${layers.join(":")}`],
      };
    }
    if (isBind(m)) {
      return { ...m, options: [...m.options.filter((o) => o !== "rw" && o !== "ro"), "ro"] };
    }
    return { ...m, options: [...m.options.filter((o) => o !== "rw" && o !== "ro"), "ro"] };
  });
}

// The kernel takes one page of mount data; past this, overlay lowerdirs are
// shortened to paths relative to their common parent (as containerd does).
const MAX_DATA = 4095;

/**
 * Mounts `mounts` on `target` in order, each on top of the previous
 * (containerd's `mount.All`). On failure what was mounted is unmounted.
 *
 * @throws {InvalidArgumentError} for options the kernel cannot take.
 * @throws {PermissionDeniedError} without privilege; other failures by errno class.
 */
export async function mountAll(
  mounts: readonly Mount[],
  target: string,
  options: MountOptions = {},
): Promise<void> {
  let done = 0;
  try {
    for (const m of mounts) {
      const data = parseMountOptions(m.options).data;
      if (m.type === "overlay" && data.length > MAX_DATA) {
        await mountCompacted(m, target, options);
      } else {
        await mount(
          { ...m, target },
          options.signal === undefined ? {} : { signal: options.signal },
        );
      }
      done++;
    }
  } catch (err) {
    for (; done > 0; done--) await unmountOnce(target);
    throw err;
  }
}

/**
 * Unmounts everything mounted on `target` (as many layers as there are),
 * detaching lazily when it stays busy.
 */
export async function unmountAll(target: string, options: MountOptions = {}): Promise<void> {
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      await unmount(target);
    } catch (err) {
      if (isNotFound(err)) return;
      if (isUnavailable(err)) {
        await unmount(target, { detach: true });
        continue;
      }
      throw err;
    }
  }
}

/**
 * Mounts `mounts` on a fresh temporary directory, runs `fn` on its path,
 * and always unmounts and removes the directory afterwards (also when `fn`
 * throws). `readonly` mounts {@link readonlyMounts} of them. An empty list
 * gives an empty directory.
 *
 * @example
 * ```ts
 * const files = await withMounts(await snapshotter.mounts("build-1"), (dir) => readdir(dir), { readonly: true });
 * ```
 */
export async function withMounts<T>(
  mounts: readonly Mount[],
  fn: (dir: string) => Promise<T>,
  options: MountOptions & { readonly?: boolean } = {},
): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "strata-mount-"));
  let mounted = false;
  try {
    if (mounts.length > 0) {
      await mountAll(options.readonly === true ? readonlyMounts(mounts) : mounts, dir, options);
      mounted = true;
    }
    return await fn(dir);
  } finally {
    if (mounted) await unmountAll(dir);
    await rm(dir, { recursive: true, force: true });
  }
}

async function unmountOnce(target: string): Promise<void> {
  await unmount(target).catch(() => unmount(target, { detach: true }).catch(() => {}));
}

// Mounts an overlay whose lowerdir list is too long for one page by running
// mount(8) in the lowerdirs' common parent with relative paths: the kernel
// resolves them against the mounting process's working directory, which
// must not be this process's (it is shared by all its threads).
async function mountCompacted(m: Mount, target: string, options: MountOptions): Promise<void> {
  const lower = option(m, "lowerdir")?.split(":") ?? [];
  const base = commonParent([
    ...lower,
    ...["upperdir", "workdir"].flatMap((o) => option(m, o) ?? []),
  ]);
  if (base === "/" || base === "") {
    throw new InvalidArgumentError(
      `cannot mount overlay at ${target}: options are over ${MAX_DATA} bytes and the layers share no parent directory`,
    );
  }
  const relative = (p: string) => p.slice(base.length + 1);
  const opts = m.options.map((o) => {
    for (const name of ["lowerdir", "upperdir", "workdir"]) {
      if (o.startsWith(`${name}=`)) {
        return `${name}=${o
          .slice(name.length + 1)
          .split(":")
          .map(relative)
          .join(":")}`;
      }
    }
    return o;
  });
  const data = parseMountOptions(opts).data;
  if (data.length > MAX_DATA) {
    throw new InvalidArgumentError(
      `cannot mount overlay at ${target}: options are ${data.length} bytes even with relative paths, the kernel takes at most ${MAX_DATA}`,
    );
  }
  await run(["mount", "-t", "overlay", m.source, "-o", opts.join(","), target], base, options);
}

function commonParent(paths: readonly string[]): string {
  const split = paths.map((p) => p.split("/"));
  const first = split[0] ?? [];
  let n = 0;
  while (n < first.length - 1 && split.every((parts) => parts[n] === first[n])) n++;
  return first.slice(0, n).join("/");
}

function run(argv: readonly string[], cwd: string, options: MountOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      cwd,
      stdio: ["ignore", "ignore", "pipe"],
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", (err) => reject(fromSystemError(err, `cannot run ${argv[0]}`)));
    child.on("close", (code) => {
      if (code === 0) resolve();
      else
        reject(
          new InvalidArgumentError(
            `cannot mount overlay at ${argv.at(-1)}: mount exited with ${code}: ${stderr.trim()}`,
          ),
        );
    });
  });
}
