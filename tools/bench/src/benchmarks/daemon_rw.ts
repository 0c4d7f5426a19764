import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { UnavailableError } from "@strata/errdefs";
import { type BenchContainerd, startContainerd } from "../_containerd.ts";
import { startSocketDaemon } from "../_socket_daemon.ts";
import type { Benchmark, Prepared, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";
import { parseSize } from "../stats.ts";
import { Teardown } from "../teardown.ts";
import { DEFAULT_DIGEST_SIZE, writeInput } from "./digest.ts";

const run = promisify(execFile);
const repo = join(import.meta.dirname, "..", "..", "..", "..");
const strata = join(repo, "bin", "strata");
const floor = join(import.meta.dirname, "..", "http2_floor.ts");

/** The transport's floor: the same bytes over HTTP/2 between two Node processes, nothing else. */
function floorSide(direction: "up" | "down", size: number): Side {
  return {
    name: "http2-floor",
    command: { argv: [process.execPath, floor, direction, String(size)] },
  };
}

/** A stratad started for a benchmark, on a socket in a temporary directory. */
export interface BenchStratad {
  /** Its socket path. */
  socket: string;
  /** `unix://` + the socket, for `strata --address`. */
  address: string;
  /** Stops it (SIGTERM) and removes its directory. */
  stop(): Promise<void>;
}

/** Starts stratad from the repository's sources; Unavailable when it does not come up. */
export async function startStratad(): Promise<BenchStratad> {
  const dir = await mkdtemp(join(tmpdir(), "strata-bench-stratad-"));
  const socket = join(dir, "stratad.sock");
  const { stop } = await startSocketDaemon(
    [
      process.execPath,
      join(repo, "apps/daemon/src/main.ts"),
      "--root",
      join(dir, "root"),
      "--socket",
      socket,
      "--log-level",
      "warn",
    ],
    { socket, dir, what: "stratad", stderr: "inherit" },
  );
  return { socket, address: `unix://${socket}`, stop };
}

async function strataCli(args: readonly string[]): Promise<string> {
  const { stdout } = await run(strata, [...args], { maxBuffer: 16 << 20 });
  return stdout;
}

// The setup both directions share: an input file, a stratad, an embedded
// root and (when installed) a containerd.
async function prepare(): Promise<{
  size: number;
  file: string;
  digest: string;
  root: string;
  daemon: BenchStratad;
  containerd: BenchContainerd | undefined;
  teardown: () => Promise<void>;
}> {
  const envSize = process.env.STRATA_BENCH_SIZE;
  const size = envSize === undefined || envSize === "" ? DEFAULT_DIGEST_SIZE : parseSize(envSize);
  const dir = await mkdtemp(join(tmpdir(), "strata-bench-daemon-rw-"));
  const cleanups = new Teardown([() => rm(dir, { recursive: true, force: true })]);
  const teardown = cleanups.run;
  try {
    const file = join(dir, "input.bin");
    const digest = `sha256:${await writeInput(file, size, {})}`;
    const daemon = await startStratad();
    cleanups.add(() => daemon.stop());
    const containerd = (await findProgram("containerd")) ? await startContainerd() : undefined;
    if (containerd !== undefined) cleanups.add(() => containerd.stop());
    return { size, file, digest, root: join(dir, "root"), daemon, containerd, teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/**
 * `daemon_write`: a file (1 GiB, or `STRATA_BENCH_SIZE`) into the content
 * store through stratad's socket (`strata --address unix://… content
 * ingest FILE`: containerd's Write protocol over gRPC), versus the same CLI
 * on an embedded root (`--root`), and versus `ctr content ingest` into a
 * real containerd, and versus the same bytes over bare HTTP/2 between two
 * Node processes (`http2-floor`: no gRPC, no disk, no hash), the floor of
 * any path through Node's HTTP/2. Each run stores the whole file: the
 * previous blob is removed and collected first (untimed).
 */
export const daemonWriteBenchmark: Benchmark = {
  name: "daemon_write",
  description: "content ingest over stratad's socket vs embedded root vs ctr (containerd)",
  async setup(): Promise<Prepared> {
    const p = await prepare();
    const ingest = ["content", "ingest", "--ref", "bench-ref", p.file];
    const peers: Side[] = [
      {
        name: "embedded",
        command: { argv: [strata, "--root", p.root, ...ingest], expectOutput: p.digest },
      },
    ];
    if (p.containerd !== undefined) {
      peers.push({
        name: "ctr-ingest",
        command: {
          argv: [
            "sh",
            "-c",
            'exec ctr -a "$1" -n bench content ingest bench-ref < "$2"',
            "sh",
            p.containerd.socket,
            p.file,
          ],
        },
      });
    }
    peers.push(floorSide("up", p.size));
    const containerd = p.containerd;
    return {
      bytes: p.size,
      strata: { argv: [strata, "--address", p.daemon.address, ...ingest], expectOutput: p.digest },
      peers,
      async beforeRun(side) {
        if (side === "strata") {
          await strataCli(["--address", p.daemon.address, "content", "rm", p.digest]);
          await strataCli(["--address", p.daemon.address, "gc"]);
        } else if (side === "embedded") {
          await rm(p.root, { recursive: true, force: true });
        } else if (side === "ctr-ingest" && containerd !== undefined) {
          await containerd.ctr(["content", "rm", p.digest]).catch(() => "");
          await containerd.ctr(["leases", "create", "--id", "bench-gc"]);
          await containerd.ctr(["leases", "rm", "--sync", "bench-gc"]);
        }
      },
      teardown: p.teardown,
    };
  },
};

/**
 * `daemon_read`: a stored blob (1 GiB, or `STRATA_BENCH_SIZE`) to
 * /dev/null through stratad's socket (`strata --address unix://… content
 * get`: containerd's Read over gRPC), versus the same CLI on an embedded
 * root, versus `ctr content get` from a real containerd, and versus the
 * bare HTTP/2 floor (`http2-floor`). Every side's output but the floor's
 * is checked once against the digest during setup.
 */
export const daemonReadBenchmark: Benchmark = {
  name: "daemon_read",
  description: "content get over stratad's socket vs embedded root vs ctr (containerd)",
  async setup(): Promise<Prepared> {
    const p = await prepare();
    try {
      const hex = p.digest.slice("sha256:".length);
      // Held by a lease on every side, so no collector takes it between runs.
      await strataCli(["--root", p.root, "leases", "create", "--id", "keep", "--expires", "0"]);
      await strataCli(["--root", p.root, "content", "ingest", "--lease", "keep", p.file]);
      const address = p.daemon.address;
      await strataCli(["--address", address, "leases", "create", "--id", "keep", "--expires", "0"]);
      await strataCli(["--address", address, "content", "ingest", "--lease", "keep", p.file]);
      const get = ["content", "get", p.digest];
      const sides: [string, readonly [string, ...string[]]][] = [
        ["strata", [strata, "--address", address, ...get]],
        ["embedded", [strata, "--root", p.root, ...get]],
      ];
      if (p.containerd !== undefined) {
        // ctr's ingest lease ends with the command: a gc.root label keeps the blob.
        await run("sh", [
          "-c",
          'ctr -a "$1" -n bench content ingest bench-ref < "$2" && ctr -a "$1" -n bench content label "$3" containerd.io/gc.root=bench',
          "sh",
          p.containerd.socket,
          p.file,
          p.digest,
        ]);
        sides.push(["ctr-get", ["ctr", "-a", p.containerd.socket, "-n", "bench", ...get]]);
      }
      for (const [name, argv] of sides) {
        const check = await run("sh", ["-c", '"$@" | sha256sum', "sh", ...argv]);
        if (!check.stdout.startsWith(hex)) {
          throw new UnavailableError(`${name} read back ${check.stdout.slice(0, 64)}, not ${hex}`);
        }
      }
      const [first, ...rest] = sides;
      return {
        bytes: p.size,
        strata: { argv: (first as (typeof sides)[0])[1] },
        peers: [
          ...rest.map(([name, argv]) => ({ name, command: { argv } })),
          floorSide("down", p.size),
        ],
        teardown: p.teardown,
      };
    } catch (err) {
      await p.teardown();
      throw err;
    }
  },
};

/** Both directions: `daemon_write` and `daemon_read`. */
export const daemonRwBenchmarks: readonly Benchmark[] = [daemonWriteBenchmark, daemonReadBenchmark];
