// A tree with every kind of file a layer can carry, built with the system's
// own tools (mknod, setfattr, touch), and small helpers the layer e2e tests
// share: running programs, writing streams to files, a sentinel outside the
// target that must stay untouched.
import { execFile, execFileSync } from "node:child_process";
import { createReadStream, createWriteStream, lchownSync, mkdirSync, writeFileSync } from "node:fs";
import { chmod, chown, link, open, symlink, truncate, writeFile } from "node:fs/promises";
import { pipeline } from "node:stream/promises";
import { compareTrees, snapshotTree } from "./_tree.ts";

/** Result of one program run. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program; never throws for a non-zero exit (look at `code`). */
export function runProgram(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; input?: Uint8Array | string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { encoding: "buffer", maxBuffer: 256 << 20, ...(options.cwd ? { cwd: options.cwd } : {}) },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: unknown }).code ?? 1) : 0;
        resolve({
          code: typeof code === "number" ? code : 127,
          stdout: stdout.toString(),
          stderr: stderr.toString() || (err && typeof code !== "number" ? String(err) : ""),
        });
      },
    );
    // A program that exits without reading its input must not fail the test with EPIPE.
    child.stdin?.on("error", () => {});
    child.stdin?.end(options.input ?? "");
  });
}

/** Runs a program and throws with its stderr when it fails. */
export async function mustRun(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; input?: Uint8Array | string } = {},
): Promise<string> {
  const r = await runProgram(cmd, args, options);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** Fails (does not skip) unless running as root: device nodes, chown and security.* need it. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error("the layer e2e tests need root (device nodes, chown, security.capability)");
  }
}

/** Writes a byte stream to a file. */
export async function writeStream(file: string, source: AsyncIterable<Uint8Array>): Promise<void> {
  await pipeline(source, createWriteStream(file));
}

/** Reads a file as a byte stream. */
export function fileStream(file: string): AsyncIterable<Uint8Array> {
  return createReadStream(file, { highWaterMark: 256 << 10 });
}

/** A v2 file capability granting cap_net_bind_service (bit 10), effective. */
export const CAP_NET_BIND_SERVICE: string = "0x0100000200040000000000000000000000000000";

const LONG_DIR = `d${"é".repeat(20)}-${"x".repeat(60)}`; // 101 bytes
const LONG_NAME = `${"n".repeat(150)}.txt`;
const LONG_TARGET = `${"../".repeat(10)}${"t".repeat(120)}/target`;
export const NON_ASCII = "héllo wörld ☃ 日本語.txt";

/**
 * Builds, under `root` (which must exist and be empty), a tree with every
 * kind of entry: empty, small and large sparse-ish files; directories with
 * modes 0700, 1777 and setgid; relative, dangling, absolute and long
 * symlinks; a hardlink group; a FIFO; character and block devices; binary
 * xattrs (`security.capability`, `user.*` with non-UTF-8 bytes); owners
 * other than root; sub-second mtimes; long and non-ASCII names.
 */
export async function buildRichTree(root: string): Promise<void> {
  const p = (rel: string) => `${root}/${rel}`;
  for (const d of ["private", "tmp", "shared", "links", "dev", "sub/deeper", `${LONG_DIR}/inner`]) {
    mkdirSync(p(d), { recursive: true });
  }
  await writeFile(p("empty"), "");
  await writeFile(p("hello.txt"), "hello, layers\n");
  await writeFile(p("exec.sh"), "#!/bin/sh\necho hi\n");
  await writeFile(p("setuid-bin"), "not really a binary\n");
  await writeFile(p("caps"), "I may bind low ports\n");
  await writeFile(p(NON_ASCII), "non-ascii name\n");
  await writeFile(p(`${LONG_DIR}/inner/${LONG_NAME}`), "a long path\n");
  await writeFile(p("private/secret"), "only root\n");
  await writeFile(p("shared/readme"), "group shared\n");
  await writeFile(p("sub/deeper/binary.bin"), Buffer.from([0, 1, 2, 255, 254, 0, 128]));
  // Sparse-ish: 24 MiB mostly holes, a few written blocks (tar stores it whole).
  await writeFile(p("big.sparse"), "");
  await truncate(p("big.sparse"), 24 << 20);
  const fd = await open(p("big.sparse"), "r+");
  for (const [off, text] of [
    [0, "start"],
    [5 << 20, "five MiB"],
    [(24 << 20) - 3, "end"],
  ] as const) {
    await fd.write(text, off);
  }
  await fd.close();
  await link(p("hello.txt"), p("sub/hard-1"));
  await link(p("hello.txt"), p("sub/deeper/hard-2"));
  await symlink("../hello.txt", p("links/relative"));
  await symlink("nowhere/at/all", p("links/dangling"));
  await symlink("/etc/passwd", p("links/absolute"));
  await symlink(LONG_TARGET, p("links/long-target"));
  await symlink(NON_ASCII, p("links/ünïcode"));
  execFileSync("mkfifo", ["-m", "0640", p("fifo")]);
  execFileSync("mknod", ["-m", "0666", p("dev/null-ish"), "c", "1", "3"]);
  execFileSync("mknod", ["-m", "0660", p("dev/loop-ish"), "b", "7", "0"]);

  // Owners before xattrs: chown clears security.capability.
  await chown(p("exec.sh"), 1000, 1000);
  await chown(p("shared"), 0, 50);
  await chown(p("shared/readme"), 1001, 50);
  await chown(p("private"), 123456, 654321);
  await chown(p("dev/loop-ish"), 0, 6);
  await chown(p("sub/deeper/binary.bin"), 65534, 65534);
  lchownSync(p("links/dangling"), 1000, 1000);

  await chmod(p("exec.sh"), 0o755);
  await chmod(p("setuid-bin"), 0o4755);
  await chmod(p("private"), 0o700);
  await chmod(p("private/secret"), 0o600);
  await chmod(p("tmp"), 0o1777);
  await chmod(p("shared"), 0o2775);
  await chmod(p("empty"), 0o444);

  const setfattr = (name: string, value: string, rel: string) =>
    execFileSync("setfattr", ["-h", "-n", name, "-v", value, p(rel)]);
  setfattr("security.capability", CAP_NET_BIND_SERVICE, "caps");
  setfattr("user.binary", "0xff00fe80c3", "hello.txt");
  setfattr("user.empty", "0x", "exec.sh");
  setfattr("user.text", "plain text", "shared");
  setfattr("user.big", `0x${"a5".repeat(3000)}`, "sub/deeper/binary.bin");

  // Sub-second times everywhere, files first, then directories deepest first.
  const stamp = (rel: string, seconds: number, nanos: number) =>
    execFileSync("touch", ["-h", "-d", `@${seconds}.${String(nanos).padStart(9, "0")}`, p(rel)]);
  const leaves = [
    "empty",
    "hello.txt",
    "exec.sh",
    "setuid-bin",
    "caps",
    NON_ASCII,
    `${LONG_DIR}/inner/${LONG_NAME}`,
    "private/secret",
    "shared/readme",
    "sub/deeper/binary.bin",
    "big.sparse",
    "links/relative",
    "links/dangling",
    "links/absolute",
    "links/long-target",
    "links/ünïcode",
    "fifo",
    "dev/null-ish",
    "dev/loop-ish",
  ];
  leaves.forEach((rel, i) => {
    stamp(rel, 1_600_000_000 + i * 1000, 123_456_789 + i);
  });
  const dirs = [
    `${LONG_DIR}/inner`,
    LONG_DIR,
    "sub/deeper",
    "sub",
    "private",
    "tmp",
    "shared",
    "links",
    "dev",
  ];
  dirs.forEach((rel, i) => {
    stamp(rel, 1_650_000_000 + i * 7, 987_654_321 - i);
  });
}

/** A directory beside the target that no layer may change: made, then checked. */
export class Sentinel {
  readonly dir: string;
  #before: ReturnType<typeof snapshotTree> = [];

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Creates the sentinel's files (one a target of hostile links). */
  create(): void {
    mkdirSync(`${this.dir}/etc`, { recursive: true });
    writeFileSync(`${this.dir}/etc/passwd`, "root:x:0:0:root:/root:/bin/sh\n", { mode: 0o644 });
    writeFileSync(`${this.dir}/unbroken`, "must not change\n", { mode: 0o600 });
    this.#before = snapshotTree(this.dir);
  }

  /** The differences since create() (empty when untouched). */
  changes(): string[] {
    return compareTrees(this.#before, snapshotTree(this.dir), { mtime: "exact" });
  }
}
