// `strata snapshot` on an embedded root, as root (overlayfs needs it; the
// native snapshotter's bind mounts too). The commands print what `ctr
// snapshots` prints; mounting what they print shows the snapshots' trees.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./cli.ts";
import { openBackend } from "./embedded.ts";

const sh = promisify(execFile);
let root: string;

async function strata(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const sink = (add: (s: string) => void) => ({
    write: (s: string | Uint8Array, ...rest: unknown[]) => {
      add(Buffer.from(s).toString());
      // The write callback, last when given, as a Writable calls it.
      const done = rest.at(-1);
      if (typeof done === "function") done();
      return true;
    },
  });
  const code = await run(
    ["--root", root, ...args],
    {
      stdin: Readable.from([]),
      stdout: sink((s) => {
        stdout += s;
      }),
      stderr: sink((s) => {
        stderr += s;
      }),
      env: {},
    },
    openBackend,
  );
  return { code, stdout, stderr };
}

async function mounted<T>(printed: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(root, "mnt-"));
  const argv = printed.trim().replace(" TARGET ", ` ${dir} `).split(" ");
  await sh(argv[0] as string, argv.slice(1));
  try {
    return await fn(dir);
  } finally {
    await sh("umount", [dir]);
  }
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("these tests need root (mounts)");
  root = await mkdtemp(join(tmpdir(), "strata-cli-snap-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

for (const sn of ["native", "overlayfs"]) {
  describe(`strata snapshot --snapshotter ${sn}`, () => {
    const s = (...args: string[]) => strata(["snapshot", "--snapshotter", sn, ...args]);

    it("prepares, commits, views, lists and removes like ctr", async () => {
      const p = await s("prepare", "--target", "TARGET", "a");
      expect(p.code, p.stderr).toBe(0);
      expect(p.stdout).toMatch(/^mount -t (bind|overlay) \S+ TARGET -o \S+\n$/);
      await mounted(p.stdout, (dir) => writeFile(join(dir, "a.txt"), "a"));
      expect((await s("commit", "A", "a")).code).toBe(0);
      expect((await s("prepare", "b", "A")).code).toBe(0);
      const m = await s("mounts", "TARGET", "b");
      expect(await mounted(m.stdout, (dir) => readdir(dir))).toEqual(["a.txt"]);
      expect((await s("view", "v", "A")).code).toBe(0);
      const ls = await s("ls");
      expect(ls.stdout.split("\n").map((l) => l.trim().split(/\s+/))).toEqual([
        ["KEY", "PARENT", "KIND"],
        ["A", "Committed"],
        ["b", "A", "Active"],
        ["v", "A", "View"],
        [""],
      ]);
      expect((await s("tree")).stdout).toBe(" A\n  \\_ b\n  \\_ v\n");
      const info = JSON.parse((await s("info", "b")).stdout);
      expect(info).toMatchObject({ Kind: "Active", Name: "b", Parent: "A" });
      expect(Object.keys(info.Labels)).toEqual(["containerd.io/gc.root"]);
      const usage = await s("usage", "-b", "A");
      expect(usage.stdout).toMatch(/^KEY\s+SIZE\s+INODES\nA\s+\d+\s+2\n$/);
      const label = await s("label", "A", "team=cli");
      expect(label.stdout.trim().split(",").sort()[1]).toBe("team=cli");
      const rmParent = await s("rm", "A");
      expect(rmParent.code).not.toBe(0);
      expect(rmParent.stderr).toMatch(/cannot remove snapshot with child/);
      for (const key of ["v", "b", "A"]) expect((await s("rm", key)).code).toBe(0);
      expect((await s("ls")).stdout.trim().split(/\s+/)).toEqual(["KEY", "PARENT", "KIND"]);
    });

    it("merges snapshots and diffs into one snapshot, deletions included", async () => {
      const layer = async (key: string, parent: string, fn: (dir: string) => Promise<void>) => {
        const p = await s("prepare", "--target", "TARGET", `${key}-w`, ...(parent ? [parent] : []));
        expect(p.code, p.stderr).toBe(0);
        await mounted(p.stdout, fn);
        expect((await s("commit", key, `${key}-w`)).code).toBe(0);
      };
      await layer("base", "", async (dir) => {
        await writeFile(join(dir, "base.txt"), "base");
        await writeFile(join(dir, "gone.txt"), "gone");
      });
      await layer("app", "base", async (dir) => {
        await writeFile(join(dir, "app.txt"), "app");
        await rm(join(dir, "gone.txt"));
      });
      await layer("tools", "", (dir) => writeFile(join(dir, "tools.txt"), "tools"));
      const m = await s("merge", "merged", "base", "base..app", "tools");
      expect(m.code, m.stderr).toBe(0);
      expect(m.stdout).toMatch(/^merged: .*, \d+ inodes/);
      expect((await s("view", "mv", "merged")).code).toBe(0);
      const tree = await mounted((await s("mounts", "TARGET", "mv")).stdout, (dir) => readdir(dir));
      expect(tree.sort()).toEqual(["app.txt", "base.txt", "tools.txt"]);
      const again = await s("merge", "merged", "base");
      expect(again.code).not.toBe(0);
      expect(again.stderr).toMatch(/it exists \(already_exists\)/);
      const bad = await s("merge", "m2", "..app");
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(/invalid merge input/);
      for (const key of ["mv", "merged", "tools", "app", "base"]) {
        const r = await s("rm", key);
        expect(r.code, r.stderr).toBe(0);
      }
    });

    it("fails clearly on a missing key and an unknown snapshotter", async () => {
      const missing = await s("info", "nope");
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toMatch(/not found/);
      const unknown = await strata(["snapshot", "--snapshotter", "nope", "ls"]);
      expect(unknown.code).not.toBe(0);
      expect(unknown.stderr).toMatch(/snapshotter not loaded: nope/);
    });
  });
}
