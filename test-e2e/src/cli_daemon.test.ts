// The strata CLI in both modes, through the same commands: the embedded root
// and `--address` against a running stratad.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Started, startStratad } from "./_daemons.ts";

const run = promisify(execFile);
const strataBin = join(import.meta.dirname, "..", "..", "bin", "strata");
let daemon: Started;
let dir: string;

beforeAll(async () => {
  daemon = await startStratad();
  dir = await mkdtemp(join(tmpdir(), "e2e-cli-"));
}, 30_000);
afterAll(async () => {
  await daemon?.stop();
  await rm(dir, { recursive: true, force: true });
});

function strata(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(strataBin, args, { encoding: "utf8" }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe("strata --address (daemon mode) and --root (embedded) agree", () => {
  for (const mode of ["embedded", "daemon"] as const) {
    it(`runs a lease, ingest, ls, get, gc session in ${mode} mode`, async () => {
      const where =
        mode === "daemon"
          ? ["--address", `unix://${daemon.socket}`]
          : ["--root", join(dir, "root")];
      const s = (args: string[]) => strata([...where, "-n", "e2e", ...args]);
      const file = join(dir, `${mode}.txt`);
      await writeFile(file, `hello from ${mode}\n`);
      expect((await s(["leases", "create", "--id", "keep"])).stdout).toBe("keep\n");
      const ingest = await s(["content", "ingest", "--lease", "keep", file]);
      expect(ingest.code, ingest.stderr).toBe(0);
      const digest = ingest.stdout.trim();
      await writeFile(`${file}.loose`, "unleased\n");
      const loose = await s(["content", "ingest", `${file}.loose`]);
      expect(loose.code, loose.stderr).toBe(0);
      expect((await s(["content", "get", digest])).stdout).toBe(`hello from ${mode}\n`);
      const gc = await s(["gc"]);
      expect(gc.code, gc.stderr).toBe(0);
      expect((await s(["content", "ls", "-q"])).stdout).toBe(`${digest}\n`);
      expect((await s(["leases", "rm", "--sync", "keep"])).code).toBe(0);
      expect((await s(["content", "ls", "-q"])).stdout).toBe("");
      const missing = await s(["content", "get", `sha256:${"3".repeat(64)}`]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/\(not_found\)/);
    }, 30_000);
  }

  for (const mode of ["embedded", "daemon"] as const) {
    it(`prepares, mounts, commits, merges and removes snapshots in ${mode} mode`, async () => {
      const where =
        mode === "daemon"
          ? ["--address", `unix://${daemon.socket}`]
          : ["--root", join(dir, "root")];
      const s = (args: string[]) =>
        strata([...where, "-n", "e2e-snap", "snapshot", "--snapshotter", "native", ...args]);
      const ok = async (args: string[]) => {
        const r = await s(args);
        expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
        return r.stdout;
      };
      const mnt = await mkdtemp(join(dir, "mnt-"));
      const mountPrinted = async (printed: string, fn: () => Promise<void>) => {
        const argv = printed.trim().replace(" TARGET ", ` ${mnt} `).split(" ");
        await run(argv[0] as string, argv.slice(1));
        try {
          await fn();
        } finally {
          await run("umount", [mnt]);
        }
      };
      for (const layer of ["one", "two"]) {
        const printed = await ok(["prepare", "--target", "TARGET", `${layer}-a`]);
        await mountPrinted(printed, () => writeFile(join(mnt, layer), layer));
        await ok(["commit", layer, `${layer}-a`]);
      }
      expect(await ok(["merge", "both", "one", "two"])).toMatch(/^both: /);
      await ok(["view", "both-v", "both"]);
      await mountPrinted(await ok(["mounts", "TARGET", "both-v"]), async () => {
        expect((await readdir(mnt)).sort()).toEqual(["one", "two"]);
      });
      const ls = (await ok(["ls"])).trim().split("\n").slice(1);
      expect(ls.map((l) => l.trim().split(/\s+/)).sort()).toEqual([
        ["both", "Committed"],
        ["both-v", "both", "View"],
        ["one", "Committed"],
        ["two", "Committed"],
      ]);
      for (const key of ["both-v", "both", "two", "one"]) await ok(["rm", key]);
      expect((await ok(["ls"])).trim()).toMatch(/^KEY\s+PARENT\s+KIND$/);
    }, 60_000);
  }

  it("says fsck runs on the embedded root when asked of a daemon", async () => {
    const res = await strata(["--address", `unix://${daemon.socket}`, "content", "fsck"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/embedded root.*\(not_implemented\)/);
  });
});
