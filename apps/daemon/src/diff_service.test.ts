// The Diff service through a real gRPC client: a layer computed from two
// directories (bind mounts, as the native snapshotter returns them), then
// applied onto a third, must reproduce the upper tree.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { Diff } from "@strata/api/diff";
import { daemonTransport, RemoteLeaseManager, scopeHeaders } from "@strata/core/remote";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultConfig } from "./config.ts";
import { type Daemon, startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";

const run = promisify(execFile);
let dir: string;
let daemon: Daemon;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "stratad-diff-"));
  daemon = await startDaemon(
    { ...defaultConfig({}), root: join(dir, "root"), socket: join(dir, "s.sock") },
    createLogger("error", { write: () => true }),
  );
});
afterAll(async () => {
  await daemon.shutdown(1000);
  await rm(dir, { recursive: true, force: true });
});

const bind = (source: string, ro = false) => ({
  type: "bind",
  source,
  options: ["rbind", ro ? "ro" : "rw"],
});

describe("Diff service", () => {
  it("diffs two bind mounts into a gzip layer and applies it onto a copy of the lower", async () => {
    const lower = join(dir, "lower");
    const upper = join(dir, "upper");
    const target = join(dir, "target");
    for (const d of [lower, upper, target]) await mkdir(join(d, "etc"), { recursive: true });
    for (const d of [lower, target]) {
      await writeFile(join(d, "etc", "keep"), "same\n");
      await writeFile(join(d, "etc", "gone"), "deleted in upper\n");
    }
    await writeFile(join(upper, "etc", "keep"), "same\n");
    await writeFile(join(upper, "etc", "new"), "added\n");
    await symlink("new", join(upper, "etc", "link"));

    const transport = daemonTransport(daemon.server.socket);
    const lease = await new RemoteLeaseManager(transport, { namespace: "t" }).create({ id: "l" });
    const headers = scopeHeaders("t", lease.id);
    const client = createClient(Diff, transport);
    const res = await client.diff(
      { left: [bind(lower, true)], right: [bind(upper, true)], mediaType: "" },
      { headers },
    );
    expect(res.diff?.mediaType).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    expect(res.diff?.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const applied = await client.apply({ diff: res.diff, mounts: [bind(target)] }, { headers });
    expect(applied.applied?.digest).toMatch(/^sha256:/);
    // The whiteout removed "gone"; the new file and the link arrived.
    await expect(readFile(join(target, "etc", "gone"))).rejects.toThrow(/ENOENT/);
    expect(await readFile(join(target, "etc", "new"), "utf8")).toBe("added\n");
    const { stdout } = await run("diff", ["-r", "--no-dereference", upper, target]);
    expect(stdout).toBe("");
  });

  it("refuses to apply onto a read-only mount", async () => {
    const transport = daemonTransport(daemon.server.socket);
    const client = createClient(Diff, transport);
    await expect(
      client.apply(
        { diff: { digest: `sha256:${"0".repeat(64)}`, size: 1n }, mounts: [bind(dir, true)] },
        { headers: scopeHeaders("t") },
      ),
    ).rejects.toThrow(/not found|read-only/);
  });
});
