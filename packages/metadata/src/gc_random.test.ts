// A randomized, concurrent test of the garbage collector against a model.
//
// Several async actors (writers, a re-ingester, lease, label and delete
// actors, and a GC actor) run interleaved over one MetadataDB + LocalStore,
// driven by a seeded PRNG (STRATA_GC_SEED overrides the seed; a failure says
// which seed it ran with). Timing still varies between runs (the file system
// and SQLite decide when each await returns), so a seed reproduces the
// choices, not always the exact interleaving.
//
// The model tracks content records, their labels and leases. Changes that can
// only make more things reachable enter the model after the database
// committed them (and as "pending" roots while in flight); changes that can
// make things unreachable enter the model before the call. So at any moment
// the model's reachable set is a lower bound of the database's, and the same
// set plus pending roots is an upper bound. After each GC:
//   - everything the lower bound holds is readable with the right digest;
//   - every record outside the upper bound when the GC was called is gone,
//     and so are the bytes of digests no such record used.
// After a final quiet GC the database and the blobs directory hold exactly
// the model's reachable set, with no ingest and no expired lease left.
//
// Actors that need an object to stay reachable for a while (a writer whose
// labels reference it, a re-ingest of its bytes) pin it; removals that would
// make a pinned object unreachable are not attempted.

import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { readBlob } from "@strata/content";
import { codeOf, isAlreadyExists, isNotFound } from "@strata/errdefs";
import {
  LABEL_GC_FLAT,
  LABEL_GC_REF_CONTENT,
  LABEL_GC_ROOT,
  leaseExpiry,
  RESOURCE_CONTENT,
} from "@strata/leases";
import type { Digest } from "@strata/oci";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openTestDb, type TestDb } from "./_test_util.ts";

const NAMESPACES = ["alpha", "beta"] as const;
const MAX_IN_FLIGHT = 6;

/** mulberry32: small, fast, good enough to drive choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sha256 = (data: Uint8Array): Digest =>
  `sha256:${createHash("sha256").update(data).digest("hex")}`;

const keyOf = (ns: string, digest: string) => `${ns}\0${digest}`;
const splitKey = (key: string) => {
  const [ns, digest] = key.split("\0") as [string, Digest];
  return { ns, digest };
};

const isRefLabel = (key: string) =>
  key === LABEL_GC_REF_CONTENT ||
  key.startsWith(`${LABEL_GC_REF_CONTENT}.`) ||
  key.startsWith(`${LABEL_GC_REF_CONTENT}/`);

interface RecordModel {
  ns: string;
  digest: Digest;
  data: Uint8Array;
  labels: Record<string, string>;
  /** Changes each time the record is created again, so checks can tell two lives apart. */
  generation: number;
}

interface LeaseModel {
  ns: string;
  id: string;
  flat: boolean;
  expiresAt: number | undefined;
  /** Digests held (possibly dangling: the record may be gone). */
  resources: Set<Digest>;
}

interface Pending {
  key: string;
  labels: Record<string, string>;
}

class Model {
  /** Records that exist, or may still exist when unreachable (a GC may have swept them). */
  records: Map<string, RecordModel> = new Map();
  leases: Map<string, LeaseModel> = new Map();
  /** In-flight additions: roots of the upper bound. */
  pending: Map<number, Pending> = new Map();
  pins: Map<string, number> = new Map();
  #generation = 0;
  #token = 0;

  nextGeneration(): number {
    return ++this.#generation;
  }

  addPending(p: Pending): number {
    const token = ++this.#token;
    this.pending.set(token, p);
    return token;
  }

  pin(key: string): void {
    this.pins.set(key, (this.pins.get(key) ?? 0) + 1);
  }

  unpin(key: string): void {
    const n = (this.pins.get(key) ?? 0) - 1;
    if (n <= 0) this.pins.delete(key);
    else this.pins.set(key, n);
  }

  /**
   * The keys of records reachable at `now`. `stable` ignores expiring
   * leases; `withPending` adds the in-flight additions as roots.
   */
  reach(
    now: number,
    options: {
      stable?: boolean;
      withPending?: boolean;
      records?: Map<string, RecordModel>;
      leases?: Map<string, LeaseModel>;
      /** Only keys reached fully (not only through a flat lease). */
      full?: boolean;
      /** Filled with how each key was reached, for failure messages. */
      via?: Map<string, string>;
    } = {},
  ): Set<string> {
    const records = options.records ?? this.records;
    const leases = options.leases ?? this.leases;
    const extra = new Map<string, Record<string, string>[]>();
    const stack: { key: string; flat: boolean; from: string }[] = [];
    for (const [key, rec] of records) {
      if ((rec.labels[LABEL_GC_ROOT] ?? "") !== "") stack.push({ key, flat: false, from: "root" });
    }
    for (const lease of leases.values()) {
      if (lease.expiresAt !== undefined && (options.stable === true || lease.expiresAt <= now))
        continue;
      for (const digest of lease.resources)
        stack.push({ key: keyOf(lease.ns, digest), flat: lease.flat, from: lease.id });
    }
    if (options.withPending === true) {
      for (const p of this.pending.values()) {
        stack.push({ key: p.key, flat: false, from: "pending" });
        extra.set(p.key, [...(extra.get(p.key) ?? []), p.labels]);
      }
    }
    const marked = new Map<string, boolean>(); // key -> reached fully
    while (stack.length > 0) {
      const { key, flat, from } = stack.pop() as { key: string; flat: boolean; from: string };
      const seen = marked.get(key);
      if (seen === true || (seen === false && flat)) continue;
      marked.set(key, !flat);
      options.via?.set(key, `${from}${flat ? " (flat)" : ""}`);
      if (flat) continue;
      const { ns } = splitKey(key);
      const labelSets = [...(extra.get(key) ?? [])];
      const rec = records.get(key);
      if (rec !== undefined) labelSets.push(rec.labels);
      for (const labels of labelSets) {
        for (const [k, v] of Object.entries(labels)) {
          if (isRefLabel(k) && v !== "") stack.push({ key: keyOf(ns, v), flat: false, from: key });
        }
      }
    }
    const out = new Set<string>();
    for (const [key, fully] of marked) {
      if ((records.has(key) || extra.has(key)) && (fully || options.full !== true)) out.add(key);
    }
    return out;
  }

  /** Whether every pinned key stays stably reachable in the given state. */
  pinsSurvive(records: Map<string, RecordModel>, leases: Map<string, LeaseModel>): boolean {
    if (this.pins.size === 0) return true;
    const reach = this.reach(Date.now(), { stable: true, full: true, records, leases });
    for (const key of this.pins.keys()) if (!reach.has(key)) return false;
    return true;
  }
}

interface Run {
  seed: number;
  steps: number;
  log: string[];
}

/** What a run did, so a test can tell it checked something. */
interface Tally {
  gcs: number;
  commits: number;
  tolerated: number;
  reingests: number;
  /** Sum over GCs of records reachable only through references. */
  heldByRefs: number;
  /** Sum over GCs of records a flat lease does not hold although its blobs reference them. */
  releasedByFlat: number;
  sweptChecked: number;
  bytesGoneChecked: number;
  reachableRead: number;
  skippedForPins: number;
  finalRecords: number;
}

async function runScenario(t: TestDb, run: Run): Promise<Tally> {
  const rand = prng(run.seed);
  const model = new Model();
  const db = t.db;
  let counter = 0;
  let leaseCounter = 0;
  const tally: Tally = {
    gcs: 0,
    commits: 0,
    tolerated: 0,
    reingests: 0,
    heldByRefs: 0,
    releasedByFlat: 0,
    sweptChecked: 0,
    bytesGoneChecked: 0,
    reachableRead: 0,
    skippedForPins: 0,
    finalRecords: 0,
  };
  const note = (line: string) => {
    run.log.push(line);
    if (run.log.length > 60) run.log.shift();
  };

  const int = (n: number) => Math.floor(rand() * n);
  const chance = (p: number) => rand() < p;
  const pick = <T>(items: readonly T[]): T | undefined =>
    items.length === 0 ? undefined : items[int(items.length)];
  const pause = async () => {
    const r = rand();
    if (r < 0.4) await new Promise<void>((resolve) => setImmediate(resolve));
    else if (r < 0.9) await new Promise<void>((resolve) => setTimeout(resolve, int(4)));
  };
  const freshData = (): Uint8Array => {
    const id = ++counter;
    const size = chance(0.1) ? 0 : 1 + int(chance(0.2) ? 48 * 1024 : 512);
    // The header makes every blob unique, so a fresh write never meets an old record.
    const header = new TextEncoder().encode(`blob ${run.seed} ${id}:`);
    const data = new Uint8Array(header.length + size);
    data.set(header);
    for (let i = header.length; i < data.length; i++) data[i] = int(256);
    return data;
  };
  const leasesIn = (ns: string, filter: (l: LeaseModel) => boolean) =>
    [...model.leases.values()].filter((l) => l.ns === ns && filter(l));
  const liveStable = (ns: string) => leasesIn(ns, (l) => l.expiresAt === undefined);
  // A record reached only through a flat lease may have lost what it references
  // to an earlier GC: a new hold on it must not make those count again. So new
  // references, roots and non-flat lease holds go only to fully reached records.
  const stableReach = () => [...model.reach(Date.now(), { stable: true, full: true })];
  const lowReach = () => model.reach(Date.now());
  const fullReach = () => model.reach(Date.now(), { full: true });

  // Applies a removal to copies of the model; commits it only when no pin breaks.
  const tryRemoval = (
    change: (records: Map<string, RecordModel>, leases: Map<string, LeaseModel>) => void,
  ): boolean => {
    const records = new Map(model.records);
    const leases = new Map(model.leases);
    change(records, leases);
    if (!model.pinsSurvive(records, leases)) {
      tally.skippedForPins++;
      return false;
    }
    model.records = records;
    model.leases = leases;
    return true;
  };

  const readable = async (key: string): Promise<string | undefined> => {
    const { ns, digest } = splitKey(key);
    try {
      const bytes = await readBlob(db.contentStore(ns), { digest });
      const got = sha256(bytes);
      return got === digest ? undefined : `read ${got}`;
    } catch (err) {
      return (err as Error).message;
    }
  };

  /** Everything the lower bound holds must be readable; re-checked before failing. */
  const checkReachable = async (when: string) => {
    for (const key of lowReach()) {
      const problem = await readable(key);
      tally.reachableRead++;
      if (problem === undefined) continue;
      if (!lowReach().has(key)) continue; // a removal raced the read
      const { ns, digest } = splitKey(key);
      throw new Error(
        `${when}: reachable ${digest} in "${ns}" is not readable: ${problem}; ${explain(ns, digest)}`,
      );
    }
  };

  /**
   * Ingests a fresh blob: with random lease, labels and references, or as
   * `plan` says. With a plan, the new blob is pinned when it commits stably
   * held (the caller unpins it) and its key returned.
   */
  async function write(
    name: string,
    step: number,
    plan?: { ns: string; lease: LeaseModel; targets: readonly string[] },
  ): Promise<string | undefined> {
    const ns = plan?.ns ?? (pick(NAMESPACES) as string);
    const r = rand();
    let lease: LeaseModel | undefined = plan?.lease;
    if (plan === undefined && r < 0.45) lease = pick(liveStable(ns));
    else if (plan === undefined && r < 0.6)
      lease = pick(leasesIn(ns, (l) => l.expiresAt !== undefined));
    const data = freshData();
    const digest = sha256(data);
    const key = keyOf(ns, digest);
    const labels: Record<string, string> = {};
    if (plan === undefined && chance(0.2)) labels[LABEL_GC_ROOT] = new Date().toISOString();
    const pinned: string[] = [];
    if (plan !== undefined || chance(0.5)) {
      const candidates = stableReach().filter((k) => splitKey(k).ns === ns);
      const n = plan?.targets.length ?? 1 + int(3);
      for (let i = 0; i < n; i++) {
        const target = plan === undefined ? pick(candidates) : plan.targets[i];
        if (target === undefined) break;
        const style = int(3);
        const labelKey =
          style === 0
            ? `${LABEL_GC_REF_CONTENT}.l.${i}`
            : style === 1
              ? `${LABEL_GC_REF_CONTENT}/c${i}`
              : LABEL_GC_REF_CONTENT;
        labels[labelKey] = splitKey(target).digest;
        model.pin(target);
        pinned.push(target);
      }
    }
    const token = model.addPending({ key, labels });
    const ref = `${name}-${step}`;
    const store = db.contentStore(ns, lease === undefined ? undefined : { lease: lease.id });
    const leaseId = lease?.id;
    const mustSucceed = () =>
      lease === undefined || (lease.expiresAt === undefined && model.leases.has(lease.id));
    note(`${name}: write ${digest.slice(7, 19)} in ${ns} lease=${leaseId ?? "-"}`);
    try {
      const w = await store.writer({
        ref,
        ...(chance(0.5) ? { desc: { digest, size: data.length } } : {}),
      });
      let done = 0;
      while (done < data.length) {
        const n = Math.min(data.length - done, 1 + int(data.length));
        await w.write(data.subarray(done, done + n));
        done += n;
        await pause();
      }
      if (plan === undefined && chance(0.08)) {
        model.pending.delete(token);
        await store.abort(ref);
        note(`${name}: aborted ${ref}`);
        return undefined;
      }
      await w.commit(data.length, digest, { labels });
      model.records.set(key, {
        ns,
        digest,
        data,
        labels: { ...labels },
        generation: model.nextGeneration(),
      });
      if (leaseId !== undefined) model.leases.get(leaseId)?.resources.add(digest);
      tally.commits++;
      note(`${name}: committed ${digest.slice(7, 19)}`);
      if (plan !== undefined && new Set(stableReach()).has(key)) {
        model.pin(key);
        return key;
      }
    } catch (err) {
      if (mustSucceed() || codeOf(err) === undefined) {
        throw new Error(
          `${name}: ingest ${ref} of ${digest} (lease ${leaseId ?? "none"}) failed although nothing released it: ${(err as Error).message}`,
          { cause: err },
        );
      }
      tally.tolerated++;
      note(`${name}: tolerated ${(err as Error).message}`);
    } finally {
      model.pending.delete(token);
      for (const k of pinned) model.unpin(k);
    }
    return undefined;
  }

  /**
   * containerd's pull: layers, then a manifest referencing them, all under a
   * temporary lease; then the manifest gets a root label, a flat lease or
   * another lease, and the temporary lease goes. Leaves layers held only
   * through references (or, under a flat lease, not at all).
   */
  async function imageOp(step: number): Promise<void> {
    const ns = pick(NAMESPACES) as string;
    const id = `lease-${++leaseCounter}`;
    await db.leases(ns).create({ id });
    const lease: LeaseModel = { ns, id, flat: false, expiresAt: undefined, resources: new Set() };
    model.leases.set(id, lease);
    const held: string[] = [];
    try {
      for (let i = int(3); i >= 0; i--) {
        const layer = await write(`img${step}.${i}`, step, { ns, lease, targets: [] });
        if (layer === undefined) return;
        held.push(layer);
      }
      const manifest = await write(`img${step}`, step, { ns, lease, targets: held });
      if (manifest === undefined) return;
      held.push(manifest);
      const { digest } = splitKey(manifest);
      const r = rand();
      if (r < 0.4) {
        const value = new Date().toISOString();
        const token = model.addPending({ key: manifest, labels: { [LABEL_GC_ROOT]: value } });
        try {
          await db
            .contentStore(ns)
            .update(
              { digest, labels: { [LABEL_GC_ROOT]: value } },
              { fieldpaths: [`labels.${LABEL_GC_ROOT}`] },
            );
          const rec = model.records.get(manifest) as RecordModel;
          model.records.set(manifest, {
            ...rec,
            labels: { ...rec.labels, [LABEL_GC_ROOT]: value },
          });
        } finally {
          model.pending.delete(token);
        }
        note(`image: ${digest.slice(7, 19)} rooted`);
      } else {
        const flat = r < 0.75;
        let keeper = pick(
          leasesIn(ns, (l) => l.flat === flat && l.expiresAt === undefined && l !== lease),
        );
        if (keeper === undefined) {
          const keeperId = `lease-${++leaseCounter}`;
          await db
            .leases(ns)
            .create({ id: keeperId, labels: flat ? { [LABEL_GC_FLAT]: "1" } : {} });
          keeper = { ns, id: keeperId, flat, expiresAt: undefined, resources: new Set() };
          model.leases.set(keeperId, keeper);
        }
        const token = model.addPending({ key: manifest, labels: {} });
        try {
          await db
            .leases(ns)
            .addResource({ id: keeper.id }, { type: RESOURCE_CONTENT, id: digest });
          model.leases.get(keeper.id)?.resources.add(digest);
        } catch (err) {
          if (!(isNotFound(err) && !model.leases.has(keeper.id))) throw err;
        } finally {
          model.pending.delete(token);
        }
        note(`image: ${digest.slice(7, 19)} kept by ${flat ? "flat " : ""}${keeper.id}`);
      }
    } finally {
      for (const key of held) model.unpin(key);
      if (model.leases.has(id) && tryRemoval((_, l) => l.delete(id))) {
        note(`image: delete ${id}`);
        await db.leases(ns).delete({ id });
      }
    }
  }

  async function reingest(step: number): Promise<void> {
    const source = pick(stableReach());
    if (source === undefined) return;
    const rec = model.records.get(source) as RecordModel;
    const ns = chance(0.5) ? rec.ns : (pick(NAMESPACES) as string);
    const key = keyOf(ns, rec.digest);
    const existing = model.records.get(key);
    const stable = new Set(stableReach());
    if (existing !== undefined && !stable.has(key)) return; // may or may not still exist
    const lease = chance(0.7) ? pick(liveStable(ns)) : undefined;
    const leaseId = lease?.id;
    const withDesc = chance(0.5);
    const labels: Record<string, string> = chance(0.3)
      ? { [LABEL_GC_ROOT]: new Date().toISOString() }
      : {};
    model.pin(source);
    if (existing !== undefined) model.pin(key);
    const token = model.addPending({ key, labels });
    const store = db.contentStore(ns, leaseId === undefined ? undefined : { lease: leaseId });
    const ref = `re-${step}`;
    note(
      `reingest: ${rec.digest.slice(7, 19)} into ${ns} lease=${leaseId ?? "-"} desc=${withDesc}`,
    );
    let outcome: "created" | "exists" | "failed";
    let err: unknown;
    try {
      const w = await store.writer({
        ref,
        ...(withDesc ? { desc: { digest: rec.digest, size: rec.data.length } } : {}),
      });
      await w.write(rec.data);
      await pause();
      await w.commit(rec.data.length, rec.digest, { labels });
      outcome = "created";
    } catch (e) {
      err = e;
      outcome = isAlreadyExists(e) ? "exists" : "failed";
      // Even a tolerated failure must be one of ours, never a raw SQLite or fs error.
      if (codeOf(e) === undefined) throw e;
    }
    try {
      const leaseKept = leaseId === undefined || model.leases.has(leaseId);
      // Without a descriptor the commit creates a record with the labels given;
      // with one, the writer records the blob unlabelled before any write.
      const expected = existing !== undefined || withDesc ? "exists" : "created";
      if (outcome !== expected && (leaseKept || outcome !== "failed")) {
        throw new Error(
          `reingest of ${rec.digest} into "${ns}" (existing=${existing !== undefined}, desc=${withDesc}, lease=${leaseId ?? "none"}): expected ${expected}, got ${outcome}${err === undefined ? "" : `: ${(err as Error).message}`}`,
          { cause: err },
        );
      }
      if (outcome !== "failed" && existing === undefined) {
        model.records.set(key, {
          ns,
          digest: rec.digest,
          data: rec.data,
          labels: outcome === "created" ? { ...labels } : {},
          generation: model.nextGeneration(),
        });
      }
      if (outcome !== "failed" && leaseId !== undefined)
        model.leases.get(leaseId)?.resources.add(rec.digest);
      if (outcome === "failed") tally.tolerated++;
      else tally.reingests++;
    } finally {
      model.pending.delete(token);
      model.unpin(source);
      if (existing !== undefined) model.unpin(key);
    }
  }

  async function leaseOp(): Promise<void> {
    const ns = pick(NAMESPACES) as string;
    const leases = db.leases(ns);
    const r = rand();
    if (r < 0.35 || model.leases.size < 2) {
      const id = `lease-${++leaseCounter}`;
      const labels: Record<string, string> = {};
      const flat = chance(0.25);
      if (flat) labels[LABEL_GC_FLAT] = "1";
      const expiresIn = chance(0.25) ? 20 + int(400) : undefined;
      const created = await leases.create({
        id,
        labels,
        ...(expiresIn === undefined ? {} : { expiresIn }),
      });
      model.leases.set(id, {
        ns,
        id,
        flat,
        expiresAt: leaseExpiry(created.labels)?.getTime(),
        resources: new Set(),
      });
      note(`leases: created ${id} in ${ns} flat=${flat} expiresIn=${expiresIn ?? "-"}`);
    } else if (r < 0.55) {
      const lease = pick(leasesIn(ns, () => true));
      if (lease === undefined) return;
      if (!tryRemoval((_, l) => l.delete(lease.id))) return;
      const sync = chance(0.3);
      note(`leases: delete ${lease.id} sync=${sync}`);
      try {
        await leases.delete({ id: lease.id }, { sync });
      } catch (err) {
        // An expired lease may already be collected.
        if (!(isNotFound(err) && lease.expiresAt !== undefined)) throw err;
      }
      if (sync) await checkReachable(`after sync delete of ${lease.id}`);
    } else if (r < 0.9) {
      const lease = pick(leasesIn(ns, () => true));
      const target = pick(
        [...(lease?.flat === true ? lowReach() : fullReach())].filter((k) => splitKey(k).ns === ns),
      );
      if (lease === undefined || target === undefined) return;
      const { digest } = splitKey(target);
      const token = model.addPending({ key: target, labels: {} });
      try {
        await leases.addResource({ id: lease.id }, { type: RESOURCE_CONTENT, id: digest });
        model.leases.get(lease.id)?.resources.add(digest);
        note(`leases: ${lease.id} += ${digest.slice(7, 19)}`);
      } catch (err) {
        if (!(isNotFound(err) && (lease.expiresAt !== undefined || !model.leases.has(lease.id))))
          throw err;
      } finally {
        model.pending.delete(token);
      }
    } else {
      const lease = pick(leasesIn(ns, (l) => l.resources.size > 0));
      if (lease === undefined) return;
      const digest = pick([...lease.resources]) as Digest;
      const ok = tryRemoval((_, l) => {
        const resources = new Set(lease.resources);
        resources.delete(digest);
        l.set(lease.id, { ...lease, resources });
      });
      if (!ok) return;
      note(`leases: ${lease.id} -= ${digest.slice(7, 19)}`);
      try {
        await leases.deleteResource({ id: lease.id }, { type: RESOURCE_CONTENT, id: digest });
      } catch (err) {
        if (!(isNotFound(err) && (lease.expiresAt !== undefined || !model.leases.has(lease.id))))
          throw err;
      }
    }
  }

  async function labelOp(step: number): Promise<void> {
    const key = pick([...fullReach()]);
    if (key === undefined) return;
    const rec = model.records.get(key) as RecordModel;
    const store = db.contentStore(rec.ns);
    const r = rand();
    if (r < 0.45) {
      // Add a root or a reference to something reachable: an addition.
      const target = pick([...fullReach()].filter((k) => splitKey(k).ns === rec.ns));
      const labelKey =
        chance(0.4) || target === undefined ? LABEL_GC_ROOT : `${LABEL_GC_REF_CONTENT}.u.${step}`;
      const value = labelKey === LABEL_GC_ROOT ? "keep" : splitKey(target as string).digest;
      const token = model.addPending({ key, labels: { [labelKey]: value } });
      try {
        await store.update(
          { digest: rec.digest, labels: { [labelKey]: value } },
          { fieldpaths: [`labels.${labelKey}`] },
        );
        const now = model.records.get(key);
        if (now !== undefined && now.generation === rec.generation)
          model.records.set(key, { ...now, labels: { ...now.labels, [labelKey]: value } });
        note(`labels: ${rec.digest.slice(7, 19)} ${labelKey}=${value.slice(0, 19)}`);
      } finally {
        model.pending.delete(token);
      }
    } else if (r < 0.8) {
      // Remove one GC label.
      const gcKeys = Object.keys(rec.labels).filter((k) => k === LABEL_GC_ROOT || isRefLabel(k));
      const labelKey = pick(gcKeys);
      if (labelKey === undefined) return;
      const labels = { ...rec.labels };
      delete labels[labelKey];
      if (!tryRemoval((recs) => recs.set(key, { ...rec, labels }))) return;
      note(`labels: ${rec.digest.slice(7, 19)} -${labelKey}`);
      await store.update(
        { digest: rec.digest, labels: {} },
        { fieldpaths: [`labels.${labelKey}`] },
      );
    } else {
      // Replace all labels with a subset plus a plain label: removal only.
      const labels: Record<string, string> = { note: `n${step}` };
      for (const [k, v] of Object.entries(rec.labels)) if (chance(0.5)) labels[k] = v;
      if (!tryRemoval((recs) => recs.set(key, { ...rec, labels }))) return;
      note(`labels: ${rec.digest.slice(7, 19)} = ${Object.keys(labels).join(",")}`);
      await store.update({ digest: rec.digest, labels });
    }
  }

  async function deleteOp(): Promise<void> {
    const reach = lowReach();
    const all = [...model.records.keys()];
    const key = chance(0.7) ? pick([...reach]) : pick(all);
    if (key === undefined) return;
    const rec = model.records.get(key) as RecordModel;
    const lease = chance(0.4)
      ? pick(leasesIn(rec.ns, (l) => l.resources.has(rec.digest)))
      : undefined;
    const ok = tryRemoval((recs, leases) => {
      recs.delete(key);
      if (lease !== undefined) {
        const resources = new Set(lease.resources);
        resources.delete(rec.digest);
        leases.set(lease.id, { ...lease, resources });
      }
    });
    if (!ok) return;
    note(`delete: ${rec.digest.slice(7, 19)} in ${rec.ns} lease=${lease?.id ?? "-"}`);
    try {
      await db
        .contentStore(rec.ns, lease === undefined ? undefined : { lease: lease.id })
        .delete(rec.digest);
    } catch (err) {
      // An unreachable record may already be collected.
      if (!(isNotFound(err) && !reach.has(key))) throw err;
    }
  }

  /** What holds a record in the database, against the model, to explain a failure. */
  const explain = (ns: string, digest: string): string => {
    const raw = new DatabaseSync(join(t.root, "metadata.db"), { readOnly: true });
    try {
      const lines: string[] = [];
      const referrers = raw
        .prepare("SELECT digest, labels FROM content WHERE namespace = ? AND labels LIKE ?")
        .all(ns, `%${digest}%`) as { digest: string; labels: string }[];
      const low = lowReach();
      for (const r of referrers) {
        const m = model.records.get(keyOf(ns, r.digest));
        lines.push(
          `referrer ${r.digest} db=${r.labels} model=${m === undefined ? "absent" : JSON.stringify(m.labels)} reachable=${low.has(keyOf(ns, r.digest))}`,
        );
      }
      const held = raw
        .prepare("SELECT lease, id FROM lease_resources WHERE namespace = ? AND type = 'content'")
        .all(ns) as { lease: string; id: string }[];
      const wanted = new Set([digest, ...referrers.map((r) => r.digest)]);
      for (const h of held) {
        if (!wanted.has(h.id)) continue;
        const m = model.leases.get(h.lease);
        lines.push(
          `lease ${h.lease} holds ${h.id.slice(7, 19)}; model: ${m === undefined ? "absent" : `flat=${m.flat} expiresAt=${m.expiresAt} has=${m.resources.has(h.id as Digest)}`}`,
        );
      }
      const via = new Map<string, string>();
      model.reach(Date.now(), { via });
      const path: string[] = [];
      for (let k: string | undefined = keyOf(ns, digest), i = 0; k !== undefined && i < 20; i++) {
        if (k.includes("\0")) {
          const node = splitKey(k);
          const row = raw
            .prepare("SELECT labels FROM content WHERE namespace = ? AND digest = ?")
            .get(node.ns, node.digest) as { labels: string } | undefined;
          const leases = raw
            .prepare("SELECT lease FROM lease_resources WHERE namespace = ? AND id = ?")
            .all(node.ns, node.digest)
            .map((r) => r.lease);
          path.push(
            `${node.digest.slice(7, 19)} [db ${row === undefined ? "absent" : row.labels} leases ${leases.join(",")}]`,
          );
        } else {
          const lease = raw
            .prepare("SELECT labels FROM leases WHERE namespace = ? AND id = ?")
            .get(ns, k.replace(/ \(flat\)$/, "")) as { labels: string } | undefined;
          path.push(`${k} [db ${lease === undefined ? "absent" : lease.labels}]`);
        }
        k = via.get(k);
      }
      lines.push(`model path ${path.join(" <- ")}`);
      const self = model.records.get(keyOf(ns, digest));
      lines.push(`model labels ${self === undefined ? "absent" : JSON.stringify(self.labels)}`);
      for (const l of model.leases.values()) {
        if (l.ns === ns && l.resources.has(digest as Digest))
          lines.push(
            `model lease ${l.id} flat=${l.flat} expiresAt=${l.expiresAt} (now ${Date.now()})`,
          );
      }
      for (const [k, r] of model.records) {
        if (splitKey(k).ns === ns && Object.values(r.labels).includes(digest))
          lines.push(
            `model referrer ${r.digest} reachable=${low.has(k)} labels=${JSON.stringify(r.labels)}`,
          );
      }
      return lines.join("; ");
    } finally {
      raw.close();
    }
  };

  /** One GC with its checks. */
  async function collectAndCheck(when: string): Promise<void> {
    const now = Date.now();
    const upper = model.reach(now, { withPending: true });
    const unreachable = [...model.records.values()].filter(
      (r) => !upper.has(keyOf(r.ns, r.digest)),
    );
    const liveDigests = new Set([...upper].map((k) => splitKey(k).digest));
    const deadDigests = new Set(
      unreachable.map((r) => r.digest).filter((d) => !liveDigests.has(d)),
    );
    // How much of the upper bound hangs on references, and what a flat lease lets go.
    const noRefs = new Map(
      [...model.records].map(([k, rec]) => [
        k,
        {
          ...rec,
          labels: Object.fromEntries(Object.entries(rec.labels).filter(([l]) => !isRefLabel(l))),
        },
      ]),
    );
    const withoutRefs = model.reach(now, { withPending: true, records: noRefs });
    for (const k of upper) if (!withoutRefs.has(k)) tally.heldByRefs++;
    const flatAsFull = model.reach(now, {
      withPending: true,
      leases: new Map([...model.leases].map(([k, l]) => [k, { ...l, flat: false }])),
    });
    for (const k of flatAsFull) if (!upper.has(k)) tally.releasedByFlat++;
    const stats = await db.gc();
    tally.gcs++;
    note(`gc: ${JSON.stringify({ ...stats, pauseMs: undefined, durationMs: undefined })}`);
    for (const rec of unreachable) {
      const key = keyOf(rec.ns, rec.digest);
      const current = model.records.get(key);
      if (current === undefined || current.generation !== rec.generation) continue;
      let present = true;
      try {
        await db.contentStore(rec.ns).info(rec.digest);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        present = false;
      }
      if (present) {
        throw new Error(
          `${when}: unreachable ${rec.digest} in "${rec.ns}" survived the GC; ${explain(rec.ns, rec.digest)}`,
        );
      }
      tally.sweptChecked++;
      if (model.records.get(key)?.generation === rec.generation) model.records.delete(key);
    }
    for (const digest of deadDigests) {
      let present = true;
      try {
        await t.blobs.info(digest);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        present = false;
      }
      if (present) throw new Error(`${when}: bytes of unreachable ${digest} survived the GC`);
      tally.bytesGoneChecked++;
    }
    await checkReachable(when);
  }

  // The driver: starts one random operation per step, up to a few at a time,
  // so they interleave at every await.
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  const launch = (op: Promise<void>) => {
    const tracked: Promise<void> = op
      .catch((err: unknown) => {
        failure ??= err;
      })
      .finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };
  let gcStep = 0;
  for (let step = 0; step < run.steps && failure === undefined; step++) {
    while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    const r = rand();
    if (r < 0.32) launch(write(`w${step % MAX_IN_FLIGHT}`, step).then(() => {}));
    else if (r < 0.4) launch(imageOp(step));
    else if (r < 0.48) launch(reingest(step));
    else if (r < 0.64) launch(leaseOp());
    else if (r < 0.76) launch(labelOp(step));
    else if (r < 0.84) launch(deleteOp());
    else launch(collectAndCheck(`gc #${++gcStep}`));
    await pause();
  }
  await Promise.all(inFlight);
  if (failure !== undefined) throw failure;

  // Quiet: let every expiring lease run out, then collect once more.
  const lastExpiry = Math.max(0, ...[...model.leases.values()].map((l) => l.expiresAt ?? 0));
  const wait = lastExpiry - Date.now() + 5;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  await collectAndCheck("final gc");

  const expected = model.reach(Date.now());
  for (const ns of NAMESPACES) {
    const inDb: string[] = [];
    await db.contentStore(ns).walk((info) => {
      inDb.push(info.digest);
    });
    const inModel = [...expected]
      .filter((k) => splitKey(k).ns === ns)
      .map((k) => splitKey(k).digest);
    expect(inDb.sort(), `content records of "${ns}"`).toEqual(inModel.sort());
    const leaseIds = (await db.leases(ns).list()).map((l) => l.id).sort();
    const modelLeases = leasesIn(ns, (l) => l.expiresAt === undefined)
      .map((l) => l.id)
      .sort();
    expect(leaseIds, `leases of "${ns}"`).toEqual(modelLeases);
    expect(await db.contentStore(ns).listStatuses(), `ingests of "${ns}"`).toEqual([]);
  }
  const onDisk = (await readdir(join(t.root, "content", "blobs", "sha256"))).map(
    (hex) => `sha256:${hex}`,
  );
  const wantDisk = [...new Set([...expected].map((k) => splitKey(k).digest))];
  expect(onDisk.sort(), "blobs on disk").toEqual(wantDisk.sort());
  expect(await readdir(join(t.root, "content", "ingest")), "backend ingests").toEqual([]);
  tally.finalRecords = expected.size;
  return tally;
}

describe("MetadataDB.gc under concurrent writers, leases, labels and deletes", () => {
  let t: TestDb;
  beforeEach(async () => {
    t = await openTestDb();
  });
  afterEach(() => t.cleanup());

  const envSeed = process.env.STRATA_GC_SEED;
  const seed =
    envSeed !== undefined && envSeed !== ""
      ? Number.parseInt(envSeed, 10)
      : Math.floor(Math.random() * 2 ** 31);

  it(`keeps what the model holds and removes the rest (seed ${seed})`, async () => {
    expect(Number.isSafeInteger(seed), `STRATA_GC_SEED=${envSeed}`).toBe(true);
    const run: Run = { seed, steps: 600, log: [] };
    try {
      const tally = await runScenario(t, run);
      console.log(`gc random test, seed ${seed}: ${JSON.stringify(tally)}`);
      // The run must have exercised what it claims to check.
      expect(tally.gcs).toBeGreaterThan(10);
      expect(tally.commits).toBeGreaterThan(50);
      expect(tally.reingests).toBeGreaterThan(5);
      expect(tally.sweptChecked).toBeGreaterThan(10);
      expect(tally.bytesGoneChecked).toBeGreaterThan(10);
      expect(tally.reachableRead).toBeGreaterThan(100);
      expect(tally.heldByRefs).toBeGreaterThan(0);
      expect(tally.releasedByFlat).toBeGreaterThan(0);
    } catch (err) {
      const message = `GC random test failed with STRATA_GC_SEED=${seed}: ${(err as Error).message}\nlast steps:\n  ${run.log.join("\n  ")}`;
      throw new Error(message, { cause: err });
    }
  }, 30_000);
});
