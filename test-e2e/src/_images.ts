// Helpers the image e2e tests share: the `strata` CLI run as a real process
// (bin/strata) on an embedded root, the two trees the tests commit (a base
// and a child with deletions), small images made with real tools, and
// reading an OCI layout's manifest.
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import {
  chmod,
  chown,
  link,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import type { ServedBlob, ServedImage } from "./_registry.ts";
import { snapshotTree, type TreeEntry } from "./_tree.ts";

const execFileAsync = promisify(execFile);

/** The repository's `bin/strata` wrapper (runs the CLI from its sources). */
export const STRATA_BIN: string = join(import.meta.dirname, "..", "..", "bin", "strata");

/** Result of one CLI run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link strata}. */
export interface CliOptions {
  /** Written to the program's stdin (then closed). */
  input?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

/**
 * Runs `strata --root ROOT ARGS...` as a process; never throws for a non-zero
 * exit. `$DOCKER_CONFIG` points at an empty directory unless `env` sets it,
 * so the machine's own credentials never leak into a test.
 */
export function strata(
  root: string,
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      STRATA_BIN,
      ["--root", root, ...args],
      {
        encoding: "utf8",
        maxBuffer: 64 << 20,
        env: {
          ...process.env,
          DOCKER_CONFIG: join(root, "..", "no-docker-config"),
          ...options.env,
        },
      },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: unknown }).code : 0;
        resolve({ code: typeof code === "number" ? code : 127, stdout, stderr });
      },
    );
    child.stdin?.on("error", () => {});
    child.stdin?.end(options.input ?? "");
  });
}

/**
 * Runs `strata` and returns the last line of its output (all of it with
 * `all`); throws with its stderr when it fails.
 */
export async function strataOk(
  root: string,
  args: readonly string[],
  options: CliOptions & { all?: boolean } = {},
): Promise<string> {
  const r = await strata(root, args, options);
  if (r.code !== 0) {
    throw new Error(`strata ${args.join(" ")} exited with ${r.code}:\n${r.stderr}${r.stdout}`);
  }
  return options.all === true ? r.stdout : lastLine(r.stdout);
}

/** The last non-empty line of `text`, trimmed. */
export function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  return lines[lines.length - 1] ?? "";
}

/**
 * Builds the base tree under `dir` (created): files of several modes and
 * owners, a 1 MiB incompressible file, nested and empty directories, a
 * sticky directory, relative, absolute and dangling symlinks, a hardlink
 * pair, a setuid file, binary and text xattrs, fixed mtimes; and the files
 * the child tree deletes (`to-delete.txt`, `gone/`).
 */
export async function buildBaseTree(dir: string, seed = "base"): Promise<void> {
  const p = (rel: string) => join(dir, rel);
  for (const d of ["etc", "bin", "data/nested/deeper", "empty-dir", "tmp", "links", "gone/inner"]) {
    mkdirSync(p(d), { recursive: true });
  }
  await writeFile(p("etc/config.txt"), `# config of ${seed}\nkey = value\n`);
  await writeFile(p("bin/tool.sh"), "#!/bin/sh\necho tool\n");
  await writeFile(p("bin/setuid"), "not really a program\n");
  await writeFile(p("data/random.bin"), pseudoRandom(seed, 1 << 20));
  await writeFile(p("data/nested/deeper/text.txt"), "deep text\n".repeat(1000));
  await writeFile(p("data/empty"), "");
  await writeFile(p("hard-a"), "linked twice\n");
  await link(p("hard-a"), p("data/hard-b"));
  await writeFile(p("owned"), "owned by 1000:1000\n");
  await writeFile(p("to-delete.txt"), "the child deletes me\n");
  await writeFile(p("gone/inner/file"), "the child deletes my directory\n");
  await symlink("../etc/config.txt", p("links/relative"));
  await symlink("/etc/passwd", p("links/absolute"));
  await symlink("nowhere/at/all", p("links/dangling"));
  await chown(p("owned"), 1000, 1000);
  await chmod(p("bin/tool.sh"), 0o755);
  await chmod(p("bin/setuid"), 0o4755);
  await chmod(p("empty-dir"), 0o700);
  await chmod(p("tmp"), 0o1777);
  await chmod(p("data/empty"), 0o400);
  execFileSync("setfattr", ["-n", "user.e2e", "-v", "0xff00fe80", p("etc/config.txt")]);
  execFileSync("setfattr", ["-n", "user.note", "-v", "a text value", p("data")]);
  stampTree(dir);
}

/** The OCI whiteout files {@link buildChildTree} leaves in the child directory. */
export const CHILD_WHITEOUTS: readonly string[] = [".wh.to-delete.txt", ".wh.gone"];

/**
 * Makes `child` (absent) a copy of `base` with changes: `to-delete.txt` and
 * `gone/` removed, `etc/config.txt` rewritten, `new.txt` and `new-dir/` added,
 * and a mode change. `strata commit DIR --parent REF` lays DIR over REF's
 * tree as a layer, so the removals are also written as OCI whiteout files
 * (`.wh.to-delete.txt`, `.wh.gone`); {@link committedTree} is the tree
 * a commit of `child` on `base` must have.
 */
export async function buildChildTree(base: string, child: string): Promise<void> {
  // GNU tar keeps what fs.cp does not: hardlinks, owners, xattrs.
  await mkdir(child);
  execFileSync("sh", [
    "-c",
    'tar -C "$1" --xattrs --xattrs-include="*" -cpf - . | tar -C "$2" --xattrs --xattrs-include="*" -xpf -',
    "sh",
    base,
    child,
  ]);
  await rm(join(child, "to-delete.txt"));
  await rm(join(child, "gone"), { recursive: true });
  await writeFile(join(child, "etc/config.txt"), "# config of the child\nkey = other\n");
  execFileSync("setfattr", ["-n", "user.e2e", "-v", "0x01", join(child, "etc/config.txt")]);
  await writeFile(join(child, "new.txt"), "added by the child\n");
  await mkdir(join(child, "new-dir"));
  await writeFile(join(child, "new-dir/file"), "in a new directory\n");
  await chmod(join(child, "bin/tool.sh"), 0o750);
  for (const wh of CHILD_WHITEOUTS) await writeFile(join(child, wh), "");
  // Only what changed gets the child's time. A directory whose only change
  // is its mtime is not in a layer (containerd's and BuildKit's differs
  // compare directories by mode, owner and capabilities only), so unchanged
  // directories keep the base's times, as the tar copy left them.
  const changed = [
    "etc/config.txt",
    "etc",
    "new.txt",
    "new-dir/file",
    "new-dir",
    ...CHILD_WHITEOUTS,
  ];
  for (const rel of changed) stampPath(join(child, rel), 1_700_000_000);
}

function stampPath(path: string, seconds: number): void {
  execFileSync("touch", ["-h", "-d", `@${seconds}.250000000`, path]);
}

/** The tree under `dir` without the whiteout files at its top: what a commit of it gives. */
export function committedTree(dir: string): TreeEntry[] {
  return snapshotTree(dir).filter((e) => !CHILD_WHITEOUTS.includes(e.path));
}

/** Sets every path's mtime to a fixed time (deepest first, so directories keep theirs). */
function stampTree(dir: string, seconds = 1_650_000_000): void {
  execFileSync("sh", [
    "-c",
    'find "$1" -depth -exec touch -h -d "@$2.250000000" {} +',
    "sh",
    dir,
    String(seconds),
  ]);
}

/** `size` deterministic, incompressible bytes derived from `seed`. */
export function pseudoRandom(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash("sha256").update(seed).digest();
  for (let at = 0; at < size; at += block.length) {
    block.copy(out, at);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

function blob(mediaType: string, bytes: Buffer): ServedBlob {
  return { mediaType, digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, bytes };
}

/**
 * A one-layer image of directory `dir` (GNU tar, then gzip), in memory, for
 * the hostile registry to serve: its manifest, config and layer.
 */
export function imageOfDirectory(dir: string): ServedImage {
  const tar = execFileSync("tar", ["-C", dir, "--numeric-owner", "--format=pax", "-cf", "-", "."], {
    maxBuffer: 256 << 20,
  });
  const diffID = `sha256:${createHash("sha256").update(tar).digest("hex")}`;
  const layer = blob("application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(tar));
  const config = blob(
    "application/vnd.oci.image.config.v1+json",
    Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: {},
        rootfs: { type: "layers", diff_ids: [diffID] },
        history: [{ created_by: "strata e2e" }],
      }),
    ),
  );
  const manifest = blob(
    "application/vnd.oci.image.manifest.v1+json",
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
        layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.bytes.length }],
      }),
    ),
  );
  return { manifest, config, layers: [layer] };
}

/**
 * `base` with one more layer on top: directory `dir` (GNU tar, then gzip).
 * The lower layers are `base`'s very blobs, so a root that imported `base`
 * already has them.
 */
export function imageWithLayerOn(base: ServedImage, dir: string): ServedImage {
  const tar = execFileSync("tar", ["-C", dir, "--numeric-owner", "--format=pax", "-cf", "-", "."], {
    maxBuffer: 256 << 20,
  });
  const diffID = `sha256:${createHash("sha256").update(tar).digest("hex")}`;
  const layer = blob("application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(tar));
  const baseConfig = JSON.parse(base.config.bytes.toString()) as {
    rootfs: { diff_ids: string[] };
    history?: unknown[];
  };
  const config = blob(
    base.config.mediaType,
    Buffer.from(
      JSON.stringify({
        ...baseConfig,
        rootfs: { type: "layers", diff_ids: [...baseConfig.rootfs.diff_ids, diffID] },
        history: [...(baseConfig.history ?? []), { created_by: "strata e2e (top)" }],
      }),
    ),
  );
  const layers = [...base.layers, layer];
  const manifest = blob(
    "application/vnd.oci.image.manifest.v1+json",
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: config.mediaType, digest: config.digest, size: config.bytes.length },
        layers: layers.map((l) => ({
          mediaType: l.mediaType,
          digest: l.digest,
          size: l.bytes.length,
        })),
      }),
    ),
  );
  return { manifest, config, layers };
}

/** An OCI descriptor as manifests hold it. */
export interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** An image manifest as the tests read it. */
export interface Manifest {
  mediaType?: string;
  config: Desc;
  layers: Desc[];
}

/** The manifest descriptor `tag` names in the OCI layout at `dir` (`org.opencontainers.image.ref.name`). */
export async function layoutManifestDesc(dir: string, tag: string): Promise<Desc> {
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
    manifests: Desc[];
  };
  const found = index.manifests.find(
    (m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag,
  );
  if (found === undefined) throw new Error(`${dir} has no manifest tagged ${tag}`);
  return found;
}

/** The bytes of blob `digest` in the OCI layout at `dir`. */
export function layoutBlob(dir: string, digest: string): Promise<Buffer> {
  const [alg, hex] = digest.split(":") as [string, string];
  return readFile(join(dir, "blobs", alg, hex));
}

/** The manifest `tag` names in the OCI layout at `dir`. */
export async function layoutManifest(dir: string, tag: string): Promise<Manifest> {
  const desc = await layoutManifestDesc(dir, tag);
  return JSON.parse((await layoutBlob(dir, desc.digest)).toString()) as Manifest;
}

/**
 * The tree of ref `ref` in the embedded root at `root`, read through a
 * read-only view of its snapshot (the snapshot key is the ref's chain ID):
 * `strata snapshot view --mounts`, then the bind source as it is or an
 * overlay mounted on a temporary directory, then the view removed.
 */
export async function refTree(root: string, ref: string): Promise<TreeEntry[]> {
  const info = JSON.parse(await strataOk(root, ["ref", "info", ref], { all: true })) as {
    chainID?: string;
  };
  if (info.chainID === undefined) throw new Error(`ref ${ref} has no chain ID (not unpacked?)`);
  const key = `e2e-view-${ref}`;
  const mounts = JSON.parse(
    await strataOk(root, ["snapshot", "view", "--mounts", key, info.chainID], { all: true }),
  ) as { Type: string; Source: string; Options: string[] }[];
  try {
    const [only] = mounts;
    if (mounts.length !== 1 || only === undefined)
      throw new Error(`unexpected mounts ${JSON.stringify(mounts)}`);
    if (only.Type === "bind") return snapshotTree(only.Source);
    const target = await mkdtemp(join(tmpdir(), "e2e-view-"));
    await execFileAsync("mount", [
      "-t",
      only.Type,
      only.Source,
      target,
      "-o",
      only.Options.join(","),
    ]);
    try {
      return snapshotTree(target);
    } finally {
      await execFileAsync("umount", [target]);
      await rm(target, { recursive: true, force: true });
    }
  } finally {
    await strataOk(root, ["snapshot", "rm", key]);
  }
}
