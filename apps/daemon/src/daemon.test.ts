// The content conformance suite run against stratad through the gRPC client
// (@strata/core's RemoteContentStore): the daemon's Content service must
// behave as the local store does.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeBlob } from "@strata/content";
import { contentSuite } from "@strata/content/testsuite";
import { daemonTransport, RemoteContentStore, RemoteLeaseManager } from "@strata/core/remote";
import { digestOf } from "@strata/oci";
import { afterAll, describe, expect, it } from "vitest";
import { defaultConfig } from "./config.ts";
import { startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";

const quiet = createLogger("error", { write: () => true });

async function daemonIn(dir: string) {
  return startDaemon(
    { ...defaultConfig({}), root: join(dir, "root"), socket: join(dir, "stratad.sock") },
    quiet,
  );
}

// One stratad in a child process for the whole suite (so the memory the
// suite measures is the client's alone); each instance gets its namespace.
let child: ChildProcess | undefined;
let socket = "";
let childDir = "";

async function sharedDaemon(): Promise<string> {
  if (child !== undefined) return socket;
  childDir = await mkdtemp(join(tmpdir(), "stratad-suite-"));
  socket = join(childDir, "stratad.sock");
  const main = join(import.meta.dirname, "main.ts");
  child = spawn(
    process.execPath,
    [main, "--root", join(childDir, "root"), "--socket", socket, "--log-level", "error"],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  for (let i = 0; i < 200 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socket)) throw new Error("stratad did not start");
  return socket;
}

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    const exited = new Promise((r) => child?.once("exit", r));
    child.kill("SIGTERM");
    // Graceful shutdown waits for clients' open streams; do not wait forever.
    const timer = setTimeout(() => child?.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  if (childDir !== "") await rm(childDir, { recursive: true, force: true });
}, 15_000);

let n = 0;
contentSuite("stratad over gRPC", async () => {
  const transport = daemonTransport(`unix://${await sharedDaemon()}`);
  const namespace = `suite-${++n}`;
  // Under a lease, as containerd's suite runs: unleased content is garbage.
  const lease = await new RemoteLeaseManager(transport, { namespace }).create({ id: "suite" });
  return {
    store: new RemoteContentStore(transport, { namespace, lease: lease.id }),
    cleanup: async () => {},
    // gRPC messages leave up to ~64 MiB of garbage before V8 collects it;
    // a 192 MiB blob with 96 MiB of slack still fails if it were buffered.
    largeBlob: { bytes: 192 << 20, slackBytes: 96 << 20 },
  };
});

describe("startDaemon", () => {
  it("starts again on the same socket path after a shutdown", async () => {
    const dir = await mkdtemp(join(tmpdir(), "stratad-sock-"));
    try {
      const first = await daemonIn(dir);
      await first.shutdown(1000);
      const second = await daemonIn(dir);
      const store = new RemoteContentStore(daemonTransport(second.server.socket), {
        namespace: "default",
      });
      const seen: string[] = [];
      await store.walk((i) => {
        seen.push(i.digest);
      });
      expect(seen).toEqual([]);
      await second.shutdown(1000);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("RemoteContentStore.readerAt", () => {
  it("reads sequentially from one stream, and anywhere after a jump", async () => {
    const transport = daemonTransport(`unix://${await sharedDaemon()}`);
    const lease = await new RemoteLeaseManager(transport, { namespace: "reads" }).create({});
    const store = new RemoteContentStore(transport, { namespace: "reads", lease: lease.id });
    const data = randomBytes(5 * 1024 * 1024 + 123);
    const desc = { digest: digestOf(data), size: data.length };
    await writeBlob(store, "reads", data, desc);
    const reader = await store.readerAt(desc);
    try {
      const got = Buffer.alloc(data.length);
      const piece = new Uint8Array(700_000);
      // Sequential reads with a size that never lines up with the stream's messages.
      for (let at = 0; at < data.length; ) {
        const n = await reader.readAt(piece, at);
        expect(n).toBeGreaterThan(0);
        got.set(piece.subarray(0, n), at);
        at += n;
      }
      expect(got.equals(data)).toBe(true);
      // Backwards, forwards, past the end.
      for (const at of [3_000_000, 10, 4_999_999, data.length - 5]) {
        const n = await reader.readAt(piece, at);
        expect(n).toBe(Math.min(piece.length, data.length - at));
        expect(Buffer.from(piece.subarray(0, n)).equals(data.subarray(at, at + n))).toBe(true);
      }
      expect(await reader.readAt(piece, data.length)).toBe(0);
    } finally {
      await reader.close();
    }
    await expect(reader.readAt(new Uint8Array(1), 0)).rejects.toThrow(/closed/);
  });
});
