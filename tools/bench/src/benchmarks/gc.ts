import { createHash } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStore, type Store } from "@strata/content";
import { connectDaemon } from "@strata/core/remote";
import { FailedPreconditionError, InvalidArgumentError, isAlreadyExists } from "@strata/errdefs";
import { LABEL_GC_REF_CONTENT, LABEL_GC_ROOT, type LeaseManager } from "@strata/leases";
import { MetadataDB } from "@strata/metadata";
import { startContainerd } from "../_containerd.ts";
import type { Benchmark, Side } from "../benchmark.ts";
import { findProgram } from "../find_program.ts";

/** Records in a group: a manifest-like blob and the layers it references. */
export const GC_GROUP = 10;
const NAMESPACE = "bench";
/** The lease whose deletion each timed run makes into garbage. */
const VICTIM = "bench-gc-victim";
/** Holds layers while a side is filled, so that a background GC cannot take them early. */
const SETUP_LEASE = "bench-gc-setup";
const CONCURRENCY = 16;

/** How big a GC state is. */
export interface GcScale {
  records: number;
  leases: number;
}

type Digest = `sha256:${string}`;

/** One blob of the state: its bytes, and the labels it gets. */
interface Item {
  data: Buffer;
  digest: Digest;
  labels: Record<string, string>;
}

/** A group: layers first, then the manifest referencing all of them. */
interface Group {
  /** Where the group's manifest is held: a lease id, or `root` (gc.root label). */
  holder: string;
  layers: Item[];
  manifest: Item;
}

function item(text: string, labels: Record<string, string> = {}): Item {
  const data = Buffer.from(text);
  return { data, digest: `sha256:${createHash("sha256").update(data).digest("hex")}`, labels };
}

/**
 * The state of a GC benchmark at `scale`: `records / 10` groups of a
 * manifest referencing 9 layers through `containerd.io/gc.ref.content.l.<i>`
 * labels. One group in ten is rooted by a `containerd.io/gc.root` label, one
 * in ten is held by the victim lease (the garbage of each run), the rest by
 * one of `leases` leases, round robin (leases hold the manifest only: layers
 * are reached through the references). `tag` makes each side's bytes its own.
 *
 * @throws {InvalidArgumentError} for fewer than 100 records or no lease.
 */
export function gcState(scale: GcScale, tag: string): { groups: Group[]; victims: Group[] } {
  if (!Number.isSafeInteger(scale.records) || scale.records < 10 * GC_GROUP) {
    throw new InvalidArgumentError(
      `cannot build a GC state: records must be an integer ≥ ${10 * GC_GROUP}, got ${scale.records}`,
    );
  }
  if (!Number.isSafeInteger(scale.leases) || scale.leases < 1) {
    throw new InvalidArgumentError(
      `cannot build a GC state: leases must be an integer ≥ 1, got ${scale.leases}`,
    );
  }
  const groups: Group[] = [];
  const victims: Group[] = [];
  let leased = 0;
  for (let g = 0; g < Math.floor(scale.records / GC_GROUP); g++) {
    const layers = Array.from({ length: GC_GROUP - 1 }, (_, i) =>
      item(`strata gc bench ${tag} group ${g} layer ${i}\n`),
    );
    const labels: Record<string, string> = {};
    for (const [i, layer] of layers.entries())
      labels[`${LABEL_GC_REF_CONTENT}.l.${i}`] = layer.digest;
    let holder: string;
    if (g % 10 === 0) {
      holder = "root";
      labels[LABEL_GC_ROOT] = "2026-01-01T00:00:00Z";
    } else if (g % 10 === 9) {
      holder = VICTIM;
    } else {
      holder = leaseId(leased++ % scale.leases);
    }
    const group = { holder, layers, manifest: item(`strata gc bench ${tag} group ${g}\n`, labels) };
    (holder === VICTIM ? victims : groups).push(group);
  }
  return { groups, victims };
}

const leaseId = (i: number) => `bench-lease-${i}`;

/** Runs `fn` over `items`, `CONCURRENCY` at a time. */
async function pool<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

function scaleFromEnv(recordsVar: string, leasesVar: string, fallback: GcScale): GcScale {
  const read = (name: string, dflt: number) => {
    const text = process.env[name];
    if (text === undefined || text === "") return dflt;
    const n = Number(text.replaceAll("_", ""));
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(
        `invalid ${name} ${JSON.stringify(text)}: not a positive integer`,
      );
    }
    return n;
  };
  return { records: read(recordsVar, fallback.records), leases: read(leasesVar, fallback.leases) };
}

/** A side of the benchmark over one store: fill it, refill the garbage, time a GC. */
interface GcSide {
  /** Untimed: leases the victim's records again (recreating the blobs GC removed). */
  refill(): Promise<void>;
  /** Timed: deletes the victim lease and collects. */
  collect(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Strata: a MetadataDB over a LocalStore, no scheduler. The state is built
 * through the public API, but the blob files are written straight into the
 * store's `blobs/sha256/` (the store's layout is plain files, so this is a
 * valid store, and 100,000 fsynced ingests would take minutes); each record
 * is then created by opening a writer for the digest, which records (and
 * leases) a blob the store already has.
 */
async function strataSide(dir: string, scale: GcScale, tag: string): Promise<GcSide> {
  const { groups, victims } = gcState(scale, tag);
  const blobs = await LocalStore.open(join(dir, "content"), { labels: false });
  const db = await MetadataDB.open(join(dir, "metadata.db"), { contentStore: blobs, gc: false });
  const leases = db.leases(NAMESPACE);
  const blobDir = join(dir, "content", "blobs", "sha256");
  await mkdir(blobDir, { recursive: true });
  const record = async (store: Store, it: Item) => {
    try {
      await store.writer({ ref: it.digest, desc: { digest: it.digest, size: it.data.length } });
      throw new FailedPreconditionError(`gc bench: ${it.digest} was not recorded`);
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    if (Object.keys(it.labels).length > 0)
      await store.update({ digest: it.digest, labels: it.labels });
  };
  const fill = async (list: readonly Group[]) => {
    await pool(list, async (g) => {
      for (const it of [...g.layers, g.manifest]) {
        await writeFile(join(blobDir, it.digest.slice("sha256:".length)), it.data, { mode: 0o444 });
      }
    });
    const plain = db.contentStore(NAMESPACE);
    for (const g of list) {
      const holder = g.holder === "root" ? plain : db.contentStore(NAMESPACE, { lease: g.holder });
      for (const layer of g.layers) await record(plain, layer);
      await record(holder, g.manifest);
    }
  };
  for (let i = 0; i < scale.leases; i++) await leases.create({ id: leaseId(i) });
  await fill(groups);
  const expected = victims.length * GC_GROUP;
  return {
    async refill() {
      await leases.create({ id: VICTIM });
      await fill(victims);
    },
    async collect() {
      await leases.delete({ id: VICTIM });
      const stats = await db.gc();
      if (stats.removedContent !== expected || stats.removedRecords !== expected) {
        throw new FailedPreconditionError(
          `gc bench: strata removed ${stats.removedContent} blobs and ${stats.removedRecords} records, expected ${expected}`,
        );
      }
    },
    async close() {
      db.close();
      await blobs.close();
    },
  };
}

/** Ingests `it` through a content store of containerd (under the store's lease). */
async function ingest(store: Store, it: Item): Promise<void> {
  try {
    const w = await store.writer({
      ref: `bench-${it.digest.slice(7, 31)}`,
      desc: { digest: it.digest, size: it.data.length },
    });
    await w.write(it.data);
    await w.commit(it.data.length, it.digest, { labels: it.labels });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
}

/**
 * containerd: the same state (at its own scale) through its gRPC Content and
 * Leases services, with Strata's remote client (`connectDaemon`); the timed
 * run is a synchronous lease delete, which runs containerd's GC and waits.
 */
async function containerdSide(scale: GcScale, tag: string): Promise<GcSide> {
  const containerd = await startContainerd();
  try {
    const session = connectDaemon(containerd.socket, { namespace: NAMESPACE });
    const leases: LeaseManager = session.leases;
    const { groups, victims } = gcState(scale, tag);
    await leases.create({ id: SETUP_LEASE });
    for (let i = 0; i < scale.leases; i++) await leases.create({ id: leaseId(i) });
    const fill = async (list: readonly Group[], layerLease: string) => {
      const layerStore = session.content({ lease: layerLease });
      await pool(list, async (g) => {
        await Promise.all(g.layers.map((layer) => ingest(layerStore, layer)));
        const holder = g.holder === "root" ? layerStore : session.content({ lease: g.holder });
        await ingest(holder, g.manifest);
      });
    };
    await fill(groups, SETUP_LEASE);
    await leases.delete({ id: SETUP_LEASE }, { sync: true });
    const probe = victims[0]?.manifest.digest as Digest;
    return {
      async refill() {
        // The previous run must have collected the victim's records.
        const left = await session
          .content()
          .info(probe)
          .then(
            () => true,
            () => false,
          );
        if (left) throw new FailedPreconditionError(`gc bench: containerd kept ${probe}`);
        await leases.create({ id: VICTIM });
        await fill(victims, VICTIM);
      },
      async collect() {
        await leases.delete({ id: VICTIM }, { sync: true });
      },
      close: () => containerd.stop(),
    };
  } catch (err) {
    await containerd.stop();
    throw err;
  }
}

/** The default scales: Strata's, and the peers' (containerd's setup costs a few ms per blob). */
export const GC_DEFAULTS: { strata: GcScale; peer: GcScale } = {
  strata: { records: 100_000, leases: 10_000 },
  peer: { records: 10_000, leases: 1_000 },
};

/**
 * `gc`: one full mark-and-sweep after deleting a lease that held 10% of
 * the records. Strata (`MetadataDB.gc`) on `STRATA_BENCH_GC_RECORDS`
 * records and `STRATA_BENCH_GC_LEASES` leases (default 100,000 / 10,000);
 * peers on `STRATA_BENCH_GC_PEER_RECORDS` / `..._PEER_LEASES` (default
 * 10,000 / 1,000): a real containerd (`Leases.Delete` with sync over gRPC)
 * and Strata again at that scale, for a like-for-like ratio. Side names
 * carry the record count. Before each run (untimed) the victim lease and its
 * records are created again.
 */
export const gcBenchmark: Benchmark = {
  name: "gc",
  description:
    "GC after a lease delete (10% garbage): strata at 100k records/10k leases vs containerd and strata at 10k/1k (STRATA_BENCH_GC_*)",
  async setup() {
    const scale = scaleFromEnv(
      "STRATA_BENCH_GC_RECORDS",
      "STRATA_BENCH_GC_LEASES",
      GC_DEFAULTS.strata,
    );
    const peerScale = scaleFromEnv(
      "STRATA_BENCH_GC_PEER_RECORDS",
      "STRATA_BENCH_GC_PEER_LEASES",
      GC_DEFAULTS.peer,
    );
    const dir = await mkdtemp(join(tmpdir(), "strata-bench-gc-"));
    const sides = new Map<string, GcSide>();
    const teardown = async () => {
      for (const side of sides.values()) await side.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    };
    try {
      const label = (n: number) => (n % 1000 === 0 ? `${n / 1000}k` : String(n));
      const strataName = "strata";
      sides.set(strataName, await strataSide(join(dir, "strata"), scale, "strata"));
      const peers: Side[] = [];
      const add = (name: string, side: GcSide) => {
        sides.set(name, side);
        peers.push({ name, command: () => side.collect() });
      };
      if ((await findProgram("containerd")) !== undefined) {
        add(`containerd-${label(peerScale.records)}`, await containerdSide(peerScale, "ctr"));
      }
      add(
        `strata-${label(peerScale.records)}`,
        await strataSide(join(dir, "small"), peerScale, "small"),
      );
      const strata = sides.get(strataName) as GcSide;
      return {
        strata: () => strata.collect(),
        peers,
        async beforeRun(name) {
          await sides.get(name)?.refill();
        },
        teardown,
      };
    } catch (err) {
      await teardown();
      throw err;
    }
  },
};
