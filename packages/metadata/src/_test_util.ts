import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStore, type Store } from "@strata/content";
import type { Digest } from "@strata/oci";
import type { GcSchedulerOptions } from "./gc_scheduler.ts";
import { MetadataDB } from "./metadata_db.ts";

/** A database on a fresh temporary root, for tests. */
export interface TestDb {
  root: string;
  db: MetadataDB;
  blobs: LocalStore;
  reopen(): Promise<MetadataDB>;
  cleanup(): Promise<void>;
}

/** Opens a MetadataDB over a LocalStore in a new temporary directory (scheduler off unless given). */
export async function openTestDb(gc: GcSchedulerOptions | false = false): Promise<TestDb> {
  const root = await mkdtemp(join(tmpdir(), "strata-metadata-"));
  const blobs = await LocalStore.open(join(root, "content"), { labels: false });
  const handles: MetadataDB[] = [];
  const t: TestDb = {
    root,
    blobs,
    db: await MetadataDB.open(join(root, "metadata.db"), { contentStore: blobs, gc }),
    async reopen() {
      // A crashed process leaves its writers unclosed: drop them, keep the files.
      await t.blobs.close();
      t.blobs = await LocalStore.open(join(root, "content"), { labels: false });
      const db = await MetadataDB.open(join(root, "metadata.db"), { contentStore: t.blobs, gc });
      handles.push(t.db);
      t.db = db;
      return db;
    },
    async cleanup() {
      for (const h of [...handles, t.db]) h.close();
      await t.blobs.close();
      await rm(root, { recursive: true, force: true });
    },
  };
  return t;
}

/** sha256 digest string of `data`. */
export function sha256(data: Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** Writes and commits `data` (random when absent) through `store`; returns its digest. */
export async function put(
  store: Store,
  ref: string,
  options?: { data?: Uint8Array; labels?: Record<string, string> },
): Promise<Digest> {
  const data = options?.data ?? randomBytes(64);
  const digest = sha256(data);
  const writer = await store.writer({ ref });
  await writer.write(data);
  await writer.commit(
    data.length,
    digest,
    options?.labels === undefined ? undefined : { labels: options.labels },
  );
  return digest;
}

/** Whether the backend still has the blob. */
export async function inBackend(blobs: Store, digest: Digest): Promise<boolean> {
  try {
    await blobs.info(digest);
    return true;
  } catch {
    return false;
  }
}
