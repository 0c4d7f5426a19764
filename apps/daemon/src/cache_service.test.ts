// Strata's Cache service through the daemon-connected Session
// (@strata/core's remoteCacheOps over gRPC): every operation must give what
// the embedded implementation gives on the same root, with progress
// streamed, and errors keep their class across the wire.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { Cache } from "@strata/api/cache";
import type { CacheOps, CacheProgress } from "@strata/core";
import { connectDaemon, daemonTransport } from "@strata/core/remote";
import { isFailedPrecondition, isInvalidArgument, isNotFound } from "@strata/errdefs";
import type { ImageIndex } from "@strata/oci";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultConfig } from "./config.ts";
import { type Daemon, startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";

const NS = "cache-test";
let dir: string;
let daemon: Daemon;
let remote: CacheOps;
let imports: CacheOps;
let embedded: CacheOps;
let base: string;
let top: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "stratad-cache-"));
  daemon = await startDaemon(
    {
      ...defaultConfig({}),
      root: join(dir, "root"),
      socket: join(dir, "s.sock"),
      snapshotter: "native",
    },
    createLogger("error", { write: () => true }),
  );
  remote = connectDaemon(`unix://${daemon.server.socket}`, {
    namespace: NS,
    defaultSnapshotter: "native",
  }).cache;
  embedded = daemon.root.session(NS).cache;
  imports = connectDaemon(`unix://${daemon.server.socket}`, { namespace: "imports" }).cache;
  for (const [name, files] of [
    ["d1", { "etc/hostname": "strata\n", "run.sh": "#!/bin/sh\necho hi\n" }],
    ["d2", { "etc/hostname": "changed\n", "big.bin": "x".repeat(1 << 20) }],
  ] as const) {
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(dir, name, path, ".."), { recursive: true });
      await writeFile(join(dir, name, path), text);
    }
  }
});

afterAll(async () => {
  await daemon?.shutdown(1000);
  await rm(dir, { recursive: true, force: true });
});

describe("remoteCacheOps against stratad", () => {
  it("commits directories into refs, with progress, as the embedded root records them", async () => {
    const events: CacheProgress[] = [];
    const first = await remote.commitDirectory(join(dir, "d1"), {
      description: "base",
      onProgress: (e) => events.push(e),
    });
    base = first.id;
    const second = await remote.commitDirectory(join(dir, "d2"), {
      parent: base,
      description: "top",
    });
    top = second.id;
    expect(first).toMatchObject({ kind: "base", description: "base", cachePolicy: "retain" });
    expect(second).toMatchObject({ kind: "layer", parent: base, description: "top" });
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => typeof e.action === "string" && e.id !== "")).toBe(true);
    expect(await remote.refInfo(top)).toEqual(await embedded.refInfo(top));
  });

  it("lists refs and disk usage as the embedded root does", async () => {
    const refs = await remote.refs();
    expect(refs.map((r) => r.id)).toEqual(expect.arrayContaining([base, top]));
    expect(refs).toEqual(await embedded.refs());
    const usage = await remote.diskUsage();
    expect(usage).toEqual(await embedded.diskUsage());
    expect(usage.find((u) => u.id === top)?.parents).toEqual([base]);
    expect(await remote.diskUsage({ filters: [`id==${base}`] })).toHaveLength(1);
  });

  it("keeps each namespace's refs apart", async () => {
    const other = connectDaemon(`unix://${daemon.server.socket}`, { namespace: "other" }).cache;
    expect(await other.refs()).toEqual([]);
    await expect(other.refInfo(top)).rejects.toSatisfy(isNotFound);
  });

  it("exports an image to an OCI layout with progress and the full result", async () => {
    const layout = join(dir, "layout");
    const events: CacheProgress[] = [];
    const result = await remote.exportImage(top, `oci:${layout}:v1`, {
      compression: "gzip",
      onProgress: (e) => events.push(e),
    });
    expect(result.target).toBe(`oci:${layout}:v1`);
    expect(result.layers).toHaveLength(2);
    expect(result.blobsSent).toBe(3);
    expect(events.some((e) => e.done)).toBe(true);
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as ImageIndex;
    expect(index.manifests[0]?.digest).toBe(result.manifest.digest);
    expect(index.manifests[0]?.size).toBe(result.manifest.size);
    // Again: everything is there already.
    const again = await remote.exportImage(top, `oci:${layout}:v1`);
    expect(again.blobsSent).toBe(0);
    expect(again.manifest).toEqual(result.manifest);
  });

  it("imports that layout into refs whose chain matches the exported image", async () => {
    const events: CacheProgress[] = [];
    // Into another namespace: in this one the refs exist and would be reused.
    const imported = await imports.importImage(`oci:${join(dir, "layout")}:v1`, {
      lazy: false,
      description: "imported",
      onProgress: (e) => events.push(e),
    });
    expect(imported.refs).toHaveLength(2);
    expect(imported.ref).toBe(imported.refs[1]);
    expect(imported.chainID).toBe((await remote.refInfo(top)).chainID);
    expect(await imports.refInfo(imported.ref)).toMatchObject({ description: "imported" });
    expect(await imports.refInfo(imported.ref)).toEqual(
      await daemon.root.session("imports").cache.refInfo(imported.ref),
    );
    expect(events.length).toBeGreaterThan(0);
  });

  it("refuses to remove a parent without its child, then removes both", async () => {
    await expect(remote.removeRefs([base])).rejects.toSatisfy(isFailedPrecondition);
    const removed = await remote.removeRefs([top, base]);
    expect(removed.map((u) => u.id).sort()).toEqual([base, top].sort());
    await expect(remote.refInfo(base)).rejects.toSatisfy(isNotFound);
  });

  it("prunes nothing under a policy that keeps it all, then everything with all", async () => {
    const before = await imports.refs();
    expect(before.length).toBe(2);
    expect(await imports.prune({ all: true, keepDuration: 3_600_000 })).toEqual([]);
    const removed = await imports.prune({ all: true });
    expect(removed.map((u) => u.id).sort()).toEqual(before.map((r) => r.id).sort());
    expect(await imports.refs()).toEqual([]);
  });

  it("keeps error classes across the wire", async () => {
    await expect(remote.refInfo("no-such-ref")).rejects.toSatisfy(isNotFound);
    await expect(remote.removeRefs(["no-such-ref"])).rejects.toSatisfy(isNotFound);
    await expect(remote.exportImage("no-such-ref", `oci:${join(dir, "x")}`)).rejects.toSatisfy(
      isNotFound,
    );
    await expect(
      remote.exportImage("r", `oci:${join(dir, "x")}`, { compression: "lz4" as "gzip" }),
    ).rejects.toSatisfy(isInvalidArgument);
    await expect(remote.exportImage("r", "ftp://nowhere")).rejects.toSatisfy(isInvalidArgument);
    await expect(remote.importImage(`oci:${join(dir, "missing")}`)).rejects.toSatisfy(isNotFound);
    await expect(remote.commitDirectory(join(dir, "missing"))).rejects.toSatisfy(isNotFound);
    await expect(remote.diskUsage({ filters: ["id~=("] })).rejects.toSatisfy(isInvalidArgument);
    await expect(remote.prune({ maxUsedSpace: -1 })).rejects.toSatisfy(isInvalidArgument);
  });

  it("refuses a relative directory from a client that does not resolve it", async () => {
    const client = createClient(Cache, daemonTransport(daemon.server.socket));
    const stream = client.commitDirectory(
      { directory: "relative/dir" },
      { headers: { "containerd-namespace": NS } },
    );
    const err = await (async () => {
      for await (const _ of stream) {
        // no message is expected
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.InvalidArgument);
  });

  it("needs a namespace", async () => {
    const client = createClient(Cache, daemonTransport(daemon.server.socket));
    const err = await client.listRefs({}).catch((e: unknown) => e);
    expect(String(err)).toMatch(/namespace is required/);
  });
});
