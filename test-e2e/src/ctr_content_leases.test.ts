// containerd's own client, `ctr`, against stratad and against a real
// containerd in the same test: the same commands must give the same results.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CtrResult,
  ctr,
  requireProgram,
  type Started,
  startContainerd,
  startStratad,
} from "./_daemons.ts";

let strata: Started;
let containerd: Started;

beforeAll(async () => {
  await requireProgram("ctr");
  await requireProgram("containerd");
  // What ctr ingests is held by nothing once the command ends, and each
  // daemon's scheduler may collect it: its first run after the startup
  // delay, later ones whenever a tick finds a deletion. On both, no run
  // before the first synchronous one (`leases rm --sync`, the last test
  // that lists content), so that their listings compare what was stored.
  const many = "100000";
  [strata, containerd] = await Promise.all([
    startStratad([
      "--gc-startup-delay",
      "1h",
      "--gc-deletion-threshold",
      many,
      "--gc-mutation-threshold",
      many,
    ]),
    startContainerd([
      '[plugins."io.containerd.gc.v1.scheduler"]',
      '  startup_delay = "1h"',
      `  deletion_threshold = ${many}`,
      `  mutation_threshold = ${many}`,
    ]),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([strata?.stop(), containerd?.stop()]);
});

// Both sides, same command: returns [strata, containerd].
async function both(args: string[], input?: Buffer | string): Promise<[CtrResult, CtrResult]> {
  const opts = input === undefined ? {} : { input };
  return Promise.all([ctr(strata.socket, args, opts), ctr(containerd.socket, args, opts)]);
}

// `content ls` and `leases ls` carry ages and times; compare the stable columns.
function columns(text: string, keep: number[]): string[][] {
  return text
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .map((cells) => keep.map((i) => cells[i] ?? ""));
}

describe("ctr against stratad and containerd", () => {
  it("ctr version talks to both", async () => {
    const [s, c] = await both(["version"]);
    expect(s.code, s.stderr).toBe(0);
    expect(c.code, c.stderr).toBe(0);
    expect(s.stdout).toMatch(/Server:\n\s+Version:\s+strata-/);
  });

  it("content ingest, ls, get and active agree", async () => {
    const data = randomBytes(3 << 20); // several 1 MiB Write messages
    const [si, ci] = await both(["content", "ingest", "blob-1"], data);
    expect(si.code, si.stderr).toBe(0);
    expect(ci.code, ci.stderr).toBe(0);
    const [sl, cl] = await both(["content", "ls"]);
    expect(columns(sl.stdout, [0, 1])).toEqual(columns(cl.stdout, [0, 1]));
    const digest = columns(sl.stdout, [0])[1]?.[0] as string;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const [sg, cg] = await both(["content", "get", digest]);
    expect(Buffer.from(sg.stdout, "binary").length).toBeGreaterThan(0);
    expect(sg.code).toBe(0);
    expect(sg.stdout).toBe(cg.stdout);
    const [sa, ca] = await both(["content", "active"]);
    expect(sa.stdout.trim().split(/\s+/)).toEqual(ca.stdout.trim().split(/\s+/));
  }, 60_000);

  it("ingest with a wrong expected digest fails the same way on both", async () => {
    const wrong = `sha256:${"0".repeat(64)}`;
    const [s, c] = await both(
      ["content", "ingest", "--expected-size", "5", "--expected-digest", wrong, "bad-1"],
      "hello",
    );
    expect(s.code).not.toBe(0);
    expect(c.code).not.toBe(0);
    expect(s.stderr).toMatch(/failed precondition|unexpected commit digest/i);
  });

  it("content label sets and removes labels like containerd", async () => {
    await both(["content", "ingest", "lbl-1"], "label me");
    const digest = (await ctr(strata.socket, ["content", "ls", "-q"])).stdout
      .trim()
      .split("\n")
      .find((d) => d !== "") as string;
    for (const args of [
      ["content", "label", digest, "a=1", "b=2"],
      ["content", "label", digest, "a="],
    ]) {
      for (const listed of await both(["content", "ls", "-q"])) {
        expect(listed.stdout.trim().split("\n")).toContain(digest);
      }
      const [s, c] = await both(args);
      expect(s.code, s.stderr).toBe(c.code);
      // ctr prints labels in Go's map order, which is random: compare as sets.
      const set = (t: string) => t.trim().split(",").sort();
      expect(set(s.stdout)).toEqual(set(c.stdout));
    }
    const [sl, cl] = await both(["content", "ls"]);
    const rows = (t: string) =>
      columns(t, [0, 1, 4]).map(([d, size, labels]) => [d, size, (labels ?? "").split(",").sort()]);
    expect(rows(sl.stdout)).toEqual(rows(cl.stdout));
  });

  it("leases create, ls and rm --sync agree, and rm --sync collects unleased content", async () => {
    const [sc, cc] = await both(["leases", "create", "--id", "lease-1", "team=e2e"]);
    expect(sc.stdout).toBe(cc.stdout);
    const [sl, cl] = await both(["leases", "ls"]);
    // ID and the sorted labels (gc.expire differs in time; compare its key).
    const stable = (t: string) =>
      columns(t, [0, 2]).map(([id, labels]) => [id, (labels ?? "").replace(/=[^,]*/g, "")]);
    expect(stable(sl.stdout)).toEqual(stable(cl.stdout));
    const [sr, cr] = await both(["leases", "rm", "--sync", "lease-1"]);
    expect(sr.code, sr.stderr).toBe(0);
    expect(cr.code, cr.stderr).toBe(0);
    // ctr's ingests are held by nothing: the synchronous GC removed them on both.
    const [sa, ca] = await both(["content", "ls", "-q"]);
    expect(sa.stdout).toBe(ca.stdout);
    expect(sa.stdout.trim()).toBe("");
  });

  it("content rm of a missing digest is silent on both", async () => {
    const [s, c] = await both(["content", "rm", `sha256:${"1".repeat(64)}`]);
    expect(s.code).toBe(c.code);
    expect(s.stdout).toBe(c.stdout);
  });

  it("errors keep their class across the wire (not found)", async () => {
    const [s, c] = await both(["content", "get", `sha256:${"2".repeat(64)}`]);
    expect(s.code).not.toBe(0);
    expect(c.code).not.toBe(0);
    expect(s.stderr).toMatch(/not found/);
    expect(c.stderr).toMatch(/not found/);
  });
});
