// BuildKit's cache GC on stratad's timer (`cacheGcIntervalMs`): unused refs
// go by the configured policies; refs a policy keeps stay.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectDaemon } from "@strata/core/remote";
import { afterEach, describe, expect, it } from "vitest";
import { type DaemonConfig, defaultConfig } from "./config.ts";
import { type Daemon, startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";

let dir: string | undefined;
let daemon: Daemon | undefined;
const logged: string[] = [];

afterEach(async () => {
  await daemon?.shutdown(1000);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  daemon = undefined;
  dir = undefined;
});

async function start(config: Partial<DaemonConfig>) {
  dir = await mkdtemp(join(tmpdir(), "stratad-cache-gc-"));
  daemon = await startDaemon(
    {
      ...defaultConfig({}),
      root: join(dir, "root"),
      socket: join(dir, "s.sock"),
      snapshotter: "native",
      ...config,
    },
    createLogger("info", {
      write: (line: string) => {
        logged.push(line);
        return true;
      },
    }),
  );
  const tree = join(dir, "tree");
  await mkdir(tree, { recursive: true });
  await writeFile(join(tree, "file"), "cache gc\n");
  const cache = connectDaemon(`unix://${daemon.server.socket}`, {
    namespace: "gc",
    defaultSnapshotter: "native",
  }).cache;
  return { cache, tree };
}

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe("stratad's cache GC", () => {
  it("prunes unused refs by its policies on every interval", async () => {
    const { cache, tree } = await start({
      cacheGcIntervalMs: 100,
      cacheGcPolicies: [{ all: true }],
    });
    const ref = await cache.commitDirectory(tree);
    expect((await cache.refs()).map((r) => r.id)).toContain(ref.id);
    expect(await until(async () => (await cache.refs()).length === 0, 5000)).toBe(true);
    // The run that took it reports it once it has been over every namespace.
    const reported = () =>
      logged.some((l) => l.includes('"msg":"cache gc"') && l.includes('"records":1'));
    expect(await until(async () => reported(), 5000)).toBe(true);
  });

  it("keeps what a policy's keep duration protects", async () => {
    const { cache, tree } = await start({
      cacheGcIntervalMs: 100,
      cacheGcPolicies: [{ all: true, keepDurationMs: 3_600_000 }],
    });
    const ref = await cache.commitDirectory(tree);
    await new Promise((r) => setTimeout(r, 500));
    expect((await cache.refs()).map((r) => r.id)).toEqual([ref.id]);
  });
});
