// The content conformance suite run against stratad through the gRPC client
// (@strata/core's RemoteContentStore): the daemon's Content service must
// behave as the local store does.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { contentSuite } from "@strata/content/testsuite";
import { daemonTransport, RemoteContentStore } from "@strata/core";
import { describe, expect, it } from "vitest";
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

let n = 0;
contentSuite("stratad over gRPC", async () => {
  const dir = await mkdtemp(join(tmpdir(), "stratad-suite-"));
  const daemon = await daemonIn(dir);
  const transport = daemonTransport(`unix://${daemon.server.socket}`);
  // Each instance in its own namespace, as separate clients would be.
  const namespace = `suite-${++n}`;
  // And under a lease, as containerd's suite runs: unleased content is garbage.
  const lease = await daemon.root.db.leases(namespace).create({ id: "suite" });
  return {
    store: new RemoteContentStore(transport, { namespace, lease: lease.id }),
    cleanup: async () => {
      await daemon.shutdown(1000);
      await rm(dir, { recursive: true, force: true });
    },
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
