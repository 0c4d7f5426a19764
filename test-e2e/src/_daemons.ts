// Starting the real programs the e2e tests drive: stratad from this
// repository, and containerd from Debian's package, each on its own unix
// socket in a temporary directory, stopped by the returned function.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);
const repo = join(import.meta.dirname, "..", "..");

/** A daemon started by a test. */
export interface Started {
  /** Its socket path. */
  socket: string;
  /** Its root directory. */
  root: string;
  /** What it wrote to stderr so far (for failure messages). */
  log(): string;
  /** Stops it (SIGTERM, then SIGKILL) and removes its directories. */
  stop(): Promise<void>;
}

async function waitForSocket(path: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!existsSync(path)) {
    if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode}:\n${log()}`);
    if (Date.now() > deadline) throw new Error(`daemon did not create ${path}:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function start(argv: string[], dir: string, socket: string): Promise<Started> {
  const [cmd, ...args] = argv as [string, ...string[]];
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const log = () => stderr;
  return waitForSocket(socket, child, log).then(
    () => ({
      socket,
      root: join(dir, "root"),
      log,
      async stop() {
        await stopChild(child);
        await rm(dir, { recursive: true, force: true });
      },
    }),
    async (err: unknown) => {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
      throw err;
    },
  );
}

/** Starts stratad from the repository's sources; `extraArgs` are added to its flags. */
export async function startStratad(extraArgs: readonly string[] = []): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), "e2e-stratad-"));
  const socket = join(dir, "stratad.sock");
  return start(
    [
      process.execPath,
      join(repo, "apps/daemon/src/main.ts"),
      "--root",
      join(dir, "root"),
      "--socket",
      socket,
      ...extraArgs,
    ],
    dir,
    socket,
  );
}

/**
 * Starts Debian's containerd with only what the tests use (no CRI);
 * `extraConfig` lines are appended to its config.toml (e.g. proxy plugins);
 * `disabledPlugins` are disabled besides CRI.
 */
export async function startContainerd(
  extraConfig: readonly string[] = [],
  options: { disabledPlugins?: readonly string[] } = {},
): Promise<Started> {
  const dir = await mkdtemp(join(tmpdir(), "e2e-containerd-"));
  const socket = join(dir, "containerd.sock");
  const config = join(dir, "config.toml");
  await writeFile(
    config,
    [
      "version = 2",
      `root = "${join(dir, "root")}"`,
      `state = "${join(dir, "state")}"`,
      `disabled_plugins = ${JSON.stringify(["io.containerd.grpc.v1.cri", ...(options.disabledPlugins ?? [])])}`,
      "[grpc]",
      `  address = "${socket}"`,
      "[ttrpc]",
      `  address = "${socket}.ttrpc"`,
      "[debug]",
      `  address = ""`,
      ...extraConfig,
      "",
    ].join("\n"),
  );
  return start(["containerd", "--config", config], dir, socket);
}

/** Result of one `ctr` run. */
export interface CtrResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs Debian's `ctr` against `socket`. */
export async function ctr(
  socket: string,
  args: readonly string[],
  options: { input?: string | Buffer; namespace?: string } = {},
): Promise<CtrResult> {
  const argv = ["-a", socket, "-n", options.namespace ?? "e2e", ...args];
  return new Promise((resolve) => {
    const child = execFile(
      "ctr",
      argv,
      { encoding: "buffer", maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          stdout: stdout.toString(),
          stderr: stderr.toString(),
        });
      },
    );
    child.stdin?.end(options.input ?? "");
  });
}

/** Fails the test with a clear message when a program the e2e tests need is missing. */
export async function requireProgram(name: string): Promise<void> {
  try {
    await run("sh", ["-c", `command -v ${name}`]);
  } catch {
    throw new Error(
      `${name} is not installed: .ci/run installs it (apt-get install ${name === "ctr" ? "containerd" : name})`,
    );
  }
}
