// A real containerd for benchmarks: Debian's package, on a socket in a
// temporary directory, with only the plugins the benchmarks use.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { UnavailableError } from "@strata/errdefs";

const run = promisify(execFile);

/** A containerd started for a benchmark. */
export interface BenchContainerd {
  /** Its gRPC socket. */
  socket: string;
  /** Runs `ctr -a socket -n bench ...` and returns its stdout. */
  ctr(args: readonly string[]): Promise<string>;
  /** Stops it and removes its directories. */
  stop(): Promise<void>;
}

/** Starts containerd; Unavailable when it is not installed or does not come up. */
export async function startContainerd(): Promise<BenchContainerd> {
  const dir = await mkdtemp(join(tmpdir(), "strata-bench-containerd-"));
  const socket = join(dir, "containerd.sock");
  const config = join(dir, "config.toml");
  await writeFile(
    config,
    [
      "version = 2",
      `root = "${join(dir, "root")}"`,
      `state = "${join(dir, "state")}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      "[grpc]",
      `  address = "${socket}"`,
      "[ttrpc]",
      `  address = "${socket}.ttrpc"`,
      "",
    ].join("\n"),
  );
  let child: ChildProcess;
  try {
    child = spawn("containerd", ["--config", config], { stdio: "ignore" });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new UnavailableError("cannot start containerd", { cause: err });
  }
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.once("error", () => undefined);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 300 && !existsSync(socket); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(socket)) {
    await stop();
    throw new UnavailableError("containerd did not start (is Debian's containerd installed?)");
  }
  return {
    socket,
    async ctr(args) {
      const { stdout } = await run("ctr", ["-a", socket, "-n", "bench", ...args], {
        maxBuffer: 64 << 20,
      });
      return stdout;
    },
    stop,
  };
}
