// A daemon process for benchmarks that is ready once its unix socket exists
// (containerd, stratad): started, waited for, and stopped with SIGTERM
// (SIGKILL after 10 s), its temporary directory removed with it.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { UnavailableError } from "@strata/errdefs";

/** A started daemon: `stop` ends it and removes `dir`. */
export interface SocketDaemon {
  stop(): Promise<void>;
}

/**
 * Runs `argv` and waits up to 15 s for `socket` to appear; `dir` (the
 * daemon's temporary directory) is removed on stop or failure.
 *
 * @throws {UnavailableError} naming `what` when it cannot start or exits first.
 */
export async function startSocketDaemon(
  argv: readonly [string, ...string[]],
  options: { socket: string; dir: string; what: string; stderr?: "ignore" | "inherit" },
): Promise<SocketDaemon> {
  let child: ChildProcess;
  try {
    child = spawn(argv[0], argv.slice(1), {
      stdio: ["ignore", "ignore", options.stderr ?? "ignore"],
    });
  } catch (err) {
    await rm(options.dir, { recursive: true, force: true });
    throw new UnavailableError(`cannot start ${options.what}`, { cause: err });
  }
  child.once("error", () => undefined);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(options.dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 300 && !existsSync(options.socket); i++) {
    if (child.exitCode !== null || child.pid === undefined) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(options.socket)) {
    await stop();
    throw new UnavailableError(`${options.what} did not start`);
  }
  return { stop };
}
