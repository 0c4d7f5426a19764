// `ctr snapshots` against stratad and against a real containerd in the same
// test, with the native and the overlayfs snapshotter: the same commands
// must give the same results, and the mounts they print must show the same
// trees when mounted.
import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CtrResult,
  ctr,
  requireProgram,
  type Started,
  startContainerd,
  startStratad,
} from "./_daemons.ts";

const run = promisify(execFile);

let scratch: string;

beforeAll(async () => {
  await requireProgram("ctr");
  await requireProgram("containerd");
  await requireProgram("mount");
  scratch = await mkdtemp(join(tmpdir(), "strata-e2e-snapshots-"));
});

afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

// Each block gets its own pair of daemons. Snapshots made with ctr are held by
// neither a lease nor a gc.root label, so a collection after any removal (a
// commit removes its active snapshot) could take them. containerd's first
// automatic collection is put off by its startup delay; stratad collects
// after removals only, and with fresh daemons no removal precedes the view
// that the later tests read.
function daemons(): { strata: () => Started; containerd: () => Started } {
  let strata: Started | undefined;
  let containerd: Started | undefined;
  beforeAll(async () => {
    [strata, containerd] = await Promise.all([
      startStratad(),
      startContainerd(['[plugins."io.containerd.gc.v1.scheduler"]', '  startup_delay = "1h"']),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([strata?.stop(), containerd?.stop()]);
  });
  const get = (d: Started | undefined): Started => {
    if (d === undefined) throw new Error("daemons not started");
    return d;
  };
  return { strata: () => get(strata), containerd: () => get(containerd) };
}

// The columns of a ctr table, whitespace-split.
function table(text: string): string[][] {
  return text
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/));
}

// Runs the printed `mount -t ... TARGET -o ...` lines, then fn, then unmounts.
async function withPrinted<T>(printed: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(scratch, "mnt-"));
  const lines = printed.trim().split("\n").filter(Boolean);
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    const argv = line.replace(" TARGET ", ` ${dir} `).split(" ");
    expect(argv[0]).toBe("mount");
    await run(argv[0] as string, argv.slice(1));
  }
  try {
    return await fn(dir);
  } finally {
    for (const _ of lines) await run("umount", [dir]);
    await rm(dir, { recursive: true });
  }
}

for (const snapshotter of ["native", "overlayfs"]) {
  describe(`ctr snapshots --snapshotter ${snapshotter}, stratad vs containerd`, () => {
    const ns = `e2e-${snapshotter}`;
    const { strata, containerd } = daemons();
    const both = (args: string[]): Promise<[CtrResult, CtrResult]> =>
      Promise.all(
        [strata(), containerd()].map((d) =>
          ctr(d.socket, ["snapshots", "--snapshotter", snapshotter, ...args], { namespace: ns }),
        ),
      ) as Promise<[CtrResult, CtrResult]>;
    const ok = async (args: string[]): Promise<[CtrResult, CtrResult]> => {
      const [s, c] = await both(args);
      expect(c.code, `containerd: ${c.stderr}`).toBe(0);
      expect(s.code, `stratad: ${s.stderr}`).toBe(0);
      return [s, c];
    };

    it("prepare, write through the printed mounts, commit, child, view", async () => {
      const [sp, cp] = await ok(["prepare", "--target", "TARGET", "base-a", ""]);
      // Paths differ (each daemon's root); type and option shapes must match.
      const shape = (t: string) =>
        t
          .trim()
          .split("\n")
          .map((l) => l.replace(/\/\S+/g, "PATH"));
      expect(shape(sp.stdout)).toEqual(shape(cp.stdout));
      for (const printed of [sp.stdout, cp.stdout]) {
        await withPrinted(printed, async (dir) => {
          await writeFile(join(dir, "base.txt"), "base");
        });
      }
      await ok(["commit", "base", "base-a"]);
      const [sc, cc] = await ok(["prepare", "--target", "TARGET", "child-a", "base"]);
      expect(shape(sc.stdout)).toEqual(shape(cc.stdout));
      for (const printed of [sc.stdout, cc.stdout]) {
        await withPrinted(printed, async (dir) => {
          expect(await readFile(join(dir, "base.txt"), "utf8")).toBe("base");
          await writeFile(join(dir, "child.txt"), "child");
          await rm(join(dir, "base.txt"));
        });
      }
      await ok(["commit", "child", "child-a"]);
      await ok(["view", "view-1", "child"]);
      const [sm, cm] = await ok(["mounts", "TARGET", "view-1"]);
      expect(shape(sm.stdout)).toEqual(shape(cm.stdout));
      const [sf, cf] = await Promise.all(
        [sm.stdout, cm.stdout].map((p) => withPrinted(p, (dir) => readdir(dir))),
      );
      expect(sf).toEqual(["child.txt"]);
      expect(cf).toEqual(sf);
    }, 60_000);

    it("ls, tree, info and usage agree", async () => {
      const [sl, cl] = await ok(["ls"]);
      expect(table(sl.stdout)).toEqual(table(cl.stdout));
      const [st, ct] = await ok(["tree"]);
      expect(st.stdout).toBe(ct.stdout);
      const [si, ci] = await ok(["info", "child"]);
      const stable = (t: string) => {
        const { Created: _c, Updated: _u, Labels, ...rest } = JSON.parse(t);
        return { ...rest, labels: Object.keys(Labels ?? {}).sort() };
      };
      expect(stable(si.stdout)).toEqual(stable(ci.stdout));
      const [su, cu] = await ok(["usage", "-b"]);
      // Sizes depend on the file system's block accounting of each root; keys and inodes must agree.
      const keysInodes = (t: string) => table(t).map(([key, , inodes]) => [key, inodes]);
      expect(keysInodes(su.stdout)).toEqual(keysInodes(cu.stdout));
    });

    it("label sets and reads labels like containerd", async () => {
      const [s, c] = await ok(["label", "base", "team=e2e", "tier=1"]);
      const set = (t: string) =>
        t
          .trim()
          .split(",")
          .map((kv) => kv.replace(/=.*T.*Z$/, "=TIME"))
          .sort();
      expect(set(s.stdout)).toEqual(set(c.stdout));
      const [s2, c2] = await ok(["label", "base", "tier="]);
      expect(set(s2.stdout)).toEqual(set(c2.stdout));
    });

    it("errors have the same classes", async () => {
      const cases = [
        ["rm", "base"], // has children
        ["rm", "missing"],
        ["info", "missing"],
        ["prepare", "child-a2", "missing"],
        ["prepare", "view-1"], // exists
        ["mounts", "TARGET", "base"], // committed
      ];
      for (const args of cases) {
        const [s, c] = await both(args);
        expect(s.code, `${args.join(" ")}: containerd ${c.stderr}`).toBe(c.code);
        expect(s.code).not.toBe(0);
        const cls = (t: string) =>
          /: (not found|already exists|failed precondition|invalid argument)\s*$/.exec(
            t.trim(),
          )?.[1];
        expect(cls(s.stderr), `${args.join(" ")}: ${s.stderr} vs ${c.stderr}`).toBe(cls(c.stderr));
      }
    });

    it("rm removes top-down on both and leaves nothing", async () => {
      await ok(["rm", "view-1"]);
      await ok(["rm", "child"]);
      await ok(["rm", "base"]);
      const [sl, cl] = await ok(["ls"]);
      expect(table(sl.stdout)).toEqual(table(cl.stdout));
    });
  });
}

describe("ctr snapshots with an unknown snapshotter", () => {
  const { strata, containerd } = daemons();
  it("fails with invalid argument on both", async () => {
    const [s, c] = await Promise.all(
      [strata(), containerd()].map((d) =>
        ctr(d.socket, ["snapshots", "--snapshotter", "nope", "ls"]),
      ),
    );
    expect(s?.code).not.toBe(0);
    expect(c?.code).not.toBe(0);
    expect(s?.stderr).toMatch(/snapshotter not loaded: nope: invalid argument/);
  });
});
