import { createHash } from "node:crypto";
import { daemonTransport, RemoteContentStore, RemoteLeaseManager } from "@strata/core/remote";
import { UnavailableError } from "@strata/errdefs";
import type { Digest } from "@strata/oci";
import { startContainerd } from "../_containerd.ts";
import type { Benchmark, FunctionCommand, Prepared, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";
import { Teardown } from "../teardown.ts";
import { startStratad } from "./daemon_rw.ts";

const NAMESPACE = "bench";

/** Latency percentile `p` (0..1) of sorted samples, nearest rank. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[rank] as number;
}

function summary(side: string, samples: readonly number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const f = (ms: number) => ms.toFixed(2);
  return `${side}: ${sorted.length} calls, p50 ${f(percentile(sorted, 0.5))} ms, p99 ${f(percentile(sorted, 0.99))} ms, max ${f(sorted.at(-1) ?? Number.NaN)} ms`;
}

// Stores a small blob under a lease through containerd's Content API (the
// same client code for both daemons) and returns its digest.
async function seed(socket: string): Promise<Digest> {
  const transport = daemonTransport(`unix://${socket}`);
  const lease = await new RemoteLeaseManager(transport, { namespace: NAMESPACE }).create({
    id: "bench-info",
  });
  const store = new RemoteContentStore(transport, { namespace: NAMESPACE, lease: lease.id });
  const data = new TextEncoder().encode("daemon_info benchmark blob\n");
  const digest = `sha256:${createHash("sha256").update(data).digest("hex")}` as Digest;
  const writer = await store.writer({ ref: "bench-info", desc: { digest, size: data.length } });
  try {
    await writer.write(data);
    await writer.commit(data.length, digest);
  } finally {
    await writer.close();
  }
  return digest;
}

// `clients` connections, each calling Info `calls` times back to back; the
// latency of every call is recorded into `into`.
function infoLoad(
  socket: string,
  digest: Digest,
  clients: number,
  calls: number,
  into: number[][],
): FunctionCommand {
  // One connection per client, made once: the runs time calls, not connects.
  const stores = Array.from(
    { length: clients },
    () => new RemoteContentStore(daemonTransport(`unix://${socket}`), { namespace: NAMESPACE }),
  );
  return async (signal) => {
    const round: number[] = [];
    await Promise.all(
      stores.map(async (store) => {
        for (let i = 0; i < calls; i++) {
          const t = performance.now();
          const info = await store.info(digest, signal === undefined ? {} : { signal });
          round.push(performance.now() - t);
          if (info.digest !== digest) throw new Error(`Info answered ${info.digest}`);
        }
      }),
    );
    into.push(round);
  };
}

/**
 * `daemon_info`: unary content Info latency under 64 concurrent clients
 * (`STRATA_BENCH_CLIENTS`), each on its own connection making 50 calls
 * (`STRATA_BENCH_CALLS`) per run, against stratad and against a real
 * containerd, with the same gRPC client (ctr cannot do this). The table
 * times a whole run; p50/p99 of the single calls (all runs but each side's
 * first) go to standard error at the end.
 */
export const daemonInfoBenchmark: Benchmark = {
  name: "daemon_info",
  description: "content Info latency, 64 concurrent clients: stratad vs containerd",
  async setup(): Promise<Prepared> {
    const clients = Number(process.env.STRATA_BENCH_CLIENTS || 64);
    const calls = Number(process.env.STRATA_BENCH_CALLS || 50);
    const cleanups = new Teardown();
    const teardown = cleanups.run;
    try {
      const daemon = await startStratad();
      cleanups.add(() => daemon.stop());
      const strataSamples: number[][] = [];
      const strata = infoLoad(
        daemon.socket,
        await seed(daemon.socket),
        clients,
        calls,
        strataSamples,
      );
      const peers: Side[] = [];
      const peerSamples: number[][] = [];
      if (await findProgram("containerd")) {
        const containerd = await startContainerd();
        cleanups.add(() => containerd.stop());
        const digest = await seed(containerd.socket);
        peers.push({
          name: "containerd",
          command: infoLoad(containerd.socket, digest, clients, calls, peerSamples),
        });
      }
      cleanups.add(async () => {
        process.stderr.write(
          `daemon_info latency per call (${clients} clients):\n` +
            `  ${summary("strata", strataSamples.slice(1).flat())}\n` +
            (peers.length > 0 ? `  ${summary("containerd", peerSamples.slice(1).flat())}\n` : ""),
        );
      });
      if (peers.length === 0) throw new UnavailableError("containerd is not installed");
      return { strata, peers, teardown };
    } catch (err) {
      await teardown();
      throw err;
    }
  },
};
