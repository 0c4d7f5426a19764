// The strata CLI in both modes, through the same commands: the embedded root
// and `--address` against a running stratad.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Started, startStratad } from "./_daemons.ts";

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

  it("says fsck runs on the embedded root when asked of a daemon", async () => {
    const res = await strata(["--address", `unix://${daemon.socket}`, "content", "fsck"]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/embedded root.*\(not_implemented\)/);
  });
});
