// A real containerd configured with stratad as a proxy snapshotter
// (`[proxy_plugins.strata]`, type "snapshot"): containerd keeps the records
// and calls stratad's Snapshots service bare, without a namespace. ctr's
// snapshot commands and an image import unpack through it.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ctr, requireProgram, type Started, startContainerd, startStratad } from "./_daemons.ts";

const run = promisify(execFile);

let strata: Started;
let containerd: Started;
let scratch: string;

beforeAll(async () => {
  for (const p of ["ctr", "containerd", "umoci", "tar"]) await requireProgram(p);
  strata = await startStratad();
  containerd = await startContainerd([
    // Snapshots made with ctr are held by no lease and no root label, so any
    // collection takes them; the first automatic one waits for the startup
    // delay (later deletions only count until then), so none runs mid-test.
    '[plugins."io.containerd.gc.v1.scheduler"]',
    '  startup_delay = "1h"',
    "[proxy_plugins]",
    "  [proxy_plugins.strata]",
    '    type = "snapshot"',
    `    address = "${strata.socket}"`,
  ]);
  scratch = await mkdtemp(join(tmpdir(), "strata-e2e-proxy-"));
}, 60_000);

afterAll(async () => {
  await Promise.all([containerd?.stop(), strata?.stop()]);
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const ok = async (args: string[]) => {
  const r = await ctr(containerd.socket, args);
  expect(r.code, `ctr ${args.join(" ")}: ${r.stderr}`).toBe(0);
  return r.stdout;
};

describe("containerd with stratad as proxy snapshotter", () => {
  it("lists strata among its snapshotter plugins", async () => {
    const plugins = await ok(["plugins", "ls"]);
    expect(plugins).toMatch(/io\.containerd\.snapshotter\.v1\s+strata\s+.*ok/);
  });

  it("prepares, mounts, commits and removes snapshots through stratad", async () => {
    const s = (...args: string[]) => ok(["snapshots", "--snapshotter", "strata", ...args]);
    const printed = await s("prepare", "--target", "TARGET", "proxy-a");
    // The mount points into stratad's root: stratad made the directories.
    expect(printed).toMatch(/^mount -t (bind|overlay) /);
    expect(printed).toContain(join("snapshots", "proxy", "strata"));
    const dir = await mkdtemp(join(scratch, "mnt-"));
    const argv = printed.trim().replace(" TARGET ", ` ${dir} `).split(" ");
    await run(argv[0] as string, argv.slice(1));
    try {
      await writeFile(join(dir, "through-proxy"), "yes");
    } finally {
      await run("umount", [dir]);
    }
    await s("commit", "proxy-A", "proxy-a");
    await s("view", "proxy-v", "proxy-A");
    const viewMounts = await s("mounts", "TARGET", "proxy-v");
    const vdir = await mkdtemp(join(scratch, "mnt-"));
    const vargv = viewMounts.trim().replace(" TARGET ", ` ${vdir} `).split(" ");
    await run(vargv[0] as string, vargv.slice(1));
    try {
      expect(await readdir(vdir)).toEqual(["through-proxy"]);
      expect(await readFile(join(vdir, "through-proxy"), "utf8")).toBe("yes");
    } finally {
      await run("umount", [vdir]);
    }
    const ls = await s("ls");
    expect(ls).toMatch(/proxy-A\s+Committed/);
    expect(ls).toMatch(/proxy-v\s+proxy-A\s+View/);
    await s("rm", "proxy-v");
    await s("rm", "proxy-A");
    expect(await s("ls")).not.toContain("proxy-A");
  }, 60_000);

  it("imports an OCI archive and unpacks it into stratad's snapshots", async () => {
    // An image made by umoci: one layer with one file.
    const layout = join(scratch, "layout");
    const bundle = join(scratch, "bundle");
    await run("umoci", ["init", "--layout", layout]);
    await run("umoci", ["new", "--image", `${layout}:v1`]);
    await run("umoci", ["unpack", "--rootless", "--image", `${layout}:v1`, bundle]);
    await mkdir(join(bundle, "rootfs", "etc"), { recursive: true });
    await writeFile(join(bundle, "rootfs", "etc", "strata"), "imported through a proxy\n");
    await run("umoci", ["repack", "--image", `${layout}:v1`, bundle]);
    const archive = join(scratch, "image.tar");
    await run("tar", ["-C", layout, "-cf", archive, "."]);

    await ok([
      "images",
      "import",
      "--snapshotter",
      "strata",
      "--index-name",
      "e2e.local/proxy:v1",
      archive,
    ]);
    const images = await ok(["images", "ls", "-q"]);
    expect(images).toContain("e2e.local/proxy:v1");
    // Unpacked: the committed layer chain lives in stratad's proxy snapshotter.
    const snapshots = await ok(["snapshots", "--snapshotter", "strata", "ls"]);
    expect(snapshots).toMatch(/sha256:[0-9a-f]{64}\s+.*Committed/);
    const chainID = /(sha256:[0-9a-f]{64})\s+\S*\s*Committed/.exec(snapshots)?.[1] as string;
    const printed = await ok([
      "snapshots",
      "--snapshotter",
      "strata",
      "view",
      "--target",
      "TARGET",
      "import-view",
      chainID,
    ]);
    const dir = await mkdtemp(join(scratch, "mnt-"));
    const argv = printed.trim().replace(" TARGET ", ` ${dir} `).split(" ");
    await run(argv[0] as string, argv.slice(1));
    try {
      expect(await readFile(join(dir, "etc", "strata"), "utf8")).toBe("imported through a proxy\n");
    } finally {
      await run("umount", [dir]);
    }
  }, 120_000);
});
