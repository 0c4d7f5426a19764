// A real containerd whose content store is stratad (`[proxy_plugins]` with
// type "content", containerd's own content plugin disabled): containerd keeps
// the records, labels and namespaces in its database and calls stratad's
// Content service bare, without a namespace. Blobs written by ctr land in
// stratad's proxy store, apart from Strata's own, and Strata's garbage
// collector leaves them alone.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ctr, requireProgram, type Started, startContainerd, startStratad } from "./_daemons.ts";
import { STRATA_BIN } from "./_images.ts";

const run = promisify(execFile);

let strata: Started;
let containerd: Started;
let scratch: string;

beforeAll(async () => {
  for (const p of ["ctr", "containerd", "umoci", "tar"]) await requireProgram(p);
  strata = await startStratad();
  containerd = await startContainerd(
    [
      // Blobs ctr ingests are held by nothing: no collection may run mid-test.
      '[plugins."io.containerd.gc.v1.scheduler"]',
      '  startup_delay = "1h"',
      "[proxy_plugins]",
      "  [proxy_plugins.strata]",
      '    type = "content"',
      `    address = "${strata.socket}"`,
    ],
    { disabledPlugins: ["io.containerd.content.v1.content"] },
  );
  scratch = await mkdtemp(join(tmpdir(), "strata-e2e-proxy-content-"));
}, 60_000);

afterAll(async () => {
  await Promise.all([containerd?.stop(), strata?.stop()]);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** `strata --address` of the daemon under test; its standard output. */
async function strataCli(...args: string[]): Promise<string> {
  const { stdout } = await run(STRATA_BIN, ["--address", `unix://${strata.socket}`, ...args]);
  return stdout;
}

const ok = async (args: string[], input?: string | Buffer) => {
  const r = await ctr(containerd.socket, args, input === undefined ? {} : { input });
  expect(r.code, `ctr ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

/** The blobs in stratad's proxy content store, as digests. */
async function proxyBlobs(): Promise<string[]> {
  const dir = join(strata.root, "content", "proxy", "blobs", "sha256");
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.map((hex) => `sha256:${hex}`).sort();
}

describe("containerd with stratad as proxy content store", () => {
  it("lists strata as its content plugin", async () => {
    const plugins = await ok(["plugins", "ls"]);
    expect(plugins).toMatch(/io\.containerd\.content\.v1\s+strata\s+.*ok/);
    expect(plugins).not.toMatch(/io\.containerd\.content\.v1\s+content\s/);
  });

  it("ingests, lists, labels, reads and removes blobs through stratad", async () => {
    const data = Buffer.from("a blob that containerd keeps in stratad\n".repeat(1000));
    const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
    await ok(["content", "ingest", "proxy-ref"], data);
    expect(await proxyBlobs()).toContain(digest);
    const ls = await ok(["content", "ls"]);
    expect(ls).toContain(digest);
    await ok(["content", "label", digest, "strata.e2e/where=proxy"]);
    expect(await ok(["content", "ls"])).toMatch(/strata\.e2e\/where=proxy/);
    expect(await ok(["content", "get", digest])).toBe(data.toString());
    // Strata's own namespaces and collector do not see or take it.
    expect(await strataCli("content", "ls", "-q")).toBe("");
    await strataCli("gc");
    expect(await proxyBlobs()).toContain(digest);
    // containerd's collector removes it from stratad once nothing holds it.
    await ok(["content", "rm", digest]);
    await ok(["leases", "create", "--id", "gc-now"]);
    await ok(["leases", "rm", "--sync", "gc-now"]);
    expect(await proxyBlobs()).not.toContain(digest);
  }, 60_000);

  it("imports an OCI archive whose blobs land in stratad", async () => {
    const layout = join(scratch, "layout");
    const bundle = join(scratch, "bundle");
    await run("umoci", ["init", "--layout", layout]);
    await run("umoci", ["new", "--image", `${layout}:v1`]);
    await run("umoci", ["unpack", "--rootless", "--image", `${layout}:v1`, bundle]);
    await writeFile(join(bundle, "rootfs", "strata"), "content through a proxy\n");
    await run("umoci", ["repack", "--image", `${layout}:v1`, bundle]);
    const archive = join(scratch, "image.tar");
    await run("tar", ["-C", layout, "-cf", archive, "."]);
    await ok(["images", "import", "--index-name", "e2e.local/proxy-content:v1", archive]);
    expect(await ok(["images", "ls", "-q"])).toContain("e2e.local/proxy-content:v1");
    // Every blob of the layout (index, manifest, config, layer) is in stratad.
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
      manifests: { digest: string }[];
    };
    const manifest = index.manifests[0]?.digest as string;
    const blobs = await proxyBlobs();
    expect(blobs).toContain(manifest);
    const m = JSON.parse(
      await readFile(join(layout, "blobs", "sha256", manifest.slice(7)), "utf8"),
    ) as { config: { digest: string }; layers: { digest: string }[] };
    for (const d of [m.config.digest, ...m.layers.map((l) => l.digest)]) expect(blobs).toContain(d);
    // And containerd reads them back through stratad.
    const check = await ok(["images", "check"]);
    expect(check).toMatch(/e2e\.local\/proxy-content:v1\s+.*complete/);
  }, 120_000);
});
