import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  LABEL_LEASE_PROCESS,
  removeLeasesOfDeadProcesses,
  withProcessLease,
} from "./process_leases.ts";
import { StrataRoot } from "./strata_root.ts";

let dir: string;
let root: StrataRoot;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-process-leases-"));
  root = await StrataRoot.open(dir);
});
afterEach(async () => {
  await root.close();
  await rm(dir, { recursive: true, force: true });
});

// The pid of a process that has exited (and was reaped).
function deadPid(): number {
  const child = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(child.stdout.trim());
}

describe("withProcessLease", () => {
  it("labels the lease with this host and pid and deletes it when fn ends", async () => {
    const leases = root.db.leases("ns");
    const seen = await withProcessLease(leases, async (lease) => {
      const [listed] = await leases.list({ filters: [`id==${lease.id}`] });
      return listed?.labels[LABEL_LEASE_PROCESS];
    });
    expect(seen).toBe(`${hostname()}/${process.pid}`);
    expect(await leases.list()).toEqual([]);
  });

  it("deletes the lease when fn fails", async () => {
    const leases = root.db.leases("ns");
    await expect(withProcessLease(leases, () => Promise.reject(new Error("boom")))).rejects.toThrow(
      "boom",
    );
    expect(await leases.list()).toEqual([]);
  });
});

describe("removeLeasesOfDeadProcesses", () => {
  it("deletes leases of dead processes of this host only, in every namespace", async () => {
    const dead = deadPid();
    const label = (owner: string) => ({ labels: { [LABEL_LEASE_PROCESS]: owner } });
    await root.db.namespaces.create("a");
    await root.db.namespaces.create("b");
    await root.db.leases("a").create({ id: "dead", ...label(`${hostname()}/${dead}`) });
    await root.db.leases("b").create({ id: "dead-b", ...label(`${hostname()}/${dead}`) });
    await root.db.leases("a").create({ id: "live", ...label(`${hostname()}/${process.pid}`) });
    await root.db.leases("a").create({ id: "elsewhere", ...label(`other-host/${dead}`) });
    await root.db.leases("a").create({ id: "garbled", ...label(`${hostname()}/x`) });
    await root.db.leases("a").create({ id: "plain" });
    expect(await removeLeasesOfDeadProcesses(root.db)).toBe(2);
    const ids = async (ns: string) => (await root.db.leases(ns).list()).map((l) => l.id).sort();
    expect(await ids("a")).toEqual(["elsewhere", "garbled", "live", "plain"]);
    expect(await ids("b")).toEqual([]);
  });

  it("runs when a root opens", async () => {
    await root.db.leases("a").create({
      id: "dead",
      labels: { [LABEL_LEASE_PROCESS]: `${hostname()}/${deadPid()}` },
    });
    await root.close();
    root = await StrataRoot.open(dir);
    expect(await root.db.leases("a").list()).toEqual([]);
  });
});
