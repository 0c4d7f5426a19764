// A real containerd for benchmarks: Debian's package, on a socket in a
// temporary directory, with only the plugins the benchmarks use.
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startSocketDaemon } from "./_socket_daemon.ts";

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
  const { stop } = await startSocketDaemon(["containerd", "--config", config], {
    socket,
    dir,
    what: "containerd (is Debian's containerd installed?)",
  });
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
