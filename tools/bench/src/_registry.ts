// The reference registry for benchmarks: Debian's `docker-registry` on a free
// loopback port, its storage in a temporary directory that `wipe` empties
// between runs (so every push uploads everything again).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { UnavailableError } from "@strata/errdefs";
import { findProgram } from "./find_program.ts";

/** A registry started for a benchmark. */
export interface BenchRegistry {
  /** `127.0.0.1:<port>`. */
  host: string;
  /** Removes every repository and blob (the filesystem driver keeps nothing in memory). */
  wipe(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Starts `docker-registry` with its storage under `parent`; Unavailable when
 * it is not installed or does not answer within 15 seconds.
 */
export async function startRegistry(parent: string): Promise<BenchRegistry> {
  const binary = await findProgram("docker-registry");
  if (binary === undefined) {
    throw new UnavailableError(
      "docker-registry is not installed (apt-get install docker-registry)",
    );
  }
  const dir = await mkdtemp(join(parent, "strata-bench-registry-"));
  const data = join(dir, "data");
  const port = await freePort();
  const config = join(dir, "config.yml");
  await writeFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${data}`,
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn(binary, ["serve", config], { stdio: "ignore" });
  child.once("error", () => undefined);
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const host = `127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) break;
    try {
      const res = await fetch(`http://${host}/v2/`);
      await res.body?.cancel();
      if (res.ok) return { host, wipe: () => rm(data, { recursive: true, force: true }), stop };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new UnavailableError(`docker-registry did not answer on ${host}`);
}
