import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { LocalStore } from "@strata/content";
import { isFailedPrecondition, isUnavailable } from "@strata/errdefs";
import type { Digest } from "@strata/oci";
import { describe, expect, it } from "vitest";
import { SCHEMA_VERSION } from "./_schema.ts";
import { inBackend, openTestDb, put } from "./_test_util.ts";
import { MetadataDB } from "./metadata_db.ts";

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), "strata-metadata-db-"));
}

describe("MetadataDB", () => {
  it("upgrades a version 1 database, keeping its rows", async () => {
    const root = await tempRoot();
    try {
      const path = join(root, "metadata.db");
      const raw = new DatabaseSync(path);
      // The v1 schema as it was first written.
      raw.exec(`
        CREATE TABLE namespaces (name TEXT PRIMARY KEY, labels TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL) STRICT;
        CREATE TABLE content (namespace TEXT NOT NULL REFERENCES namespaces(name), digest TEXT NOT NULL, size INTEGER NOT NULL, labels TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (namespace, digest)) STRICT;
        CREATE TABLE ingests (namespace TEXT NOT NULL REFERENCES namespaces(name), ref TEXT NOT NULL, backend_ref TEXT NOT NULL UNIQUE, expected TEXT, expires_at INTEGER, created_at INTEGER NOT NULL, PRIMARY KEY (namespace, ref)) STRICT;
        CREATE TABLE leases (namespace TEXT NOT NULL REFERENCES namespaces(name), id TEXT NOT NULL, labels TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL, PRIMARY KEY (namespace, id)) STRICT;
        CREATE TABLE lease_resources (namespace TEXT NOT NULL, lease TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (namespace, lease, type, id), FOREIGN KEY (namespace, lease) REFERENCES leases(namespace, id) ON DELETE CASCADE) STRICT;
        INSERT INTO namespaces VALUES ('old', '{"a":"1"}', 1, 1);
        INSERT INTO leases VALUES ('old', 'kept', '{}', 1);
        PRAGMA user_version = 1;
      `);
      raw.close();
      const blobs = await LocalStore.open(join(root, "content"), { labels: false });
      const db = await MetadataDB.open(path, { contentStore: blobs, gc: false });
      expect((await db.namespaces.get("old")).labels).toEqual({ a: "1" });
      expect((await db.leases("old").list()).map((l) => l.id)).toEqual(["kept"]);
      db.close();
      const check = new DatabaseSync(path);
      expect(check.prepare("PRAGMA user_version").get()?.user_version).toBe(SCHEMA_VERSION);
      expect(check.prepare("SELECT count(*) AS n FROM snapshots").get()?.n).toBe(0);
      check.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("refuses a database from a newer version", async () => {
    const root = await tempRoot();
    try {
      const path = join(root, "metadata.db");
      const raw = new DatabaseSync(path);
      raw.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
      raw.close();
      const blobs = await LocalStore.open(join(root, "content"), { labels: false });
      await expect(MetadataDB.open(path, { contentStore: blobs, gc: false })).rejects.toSatisfy(
        isFailedPrecondition,
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("shares one file between two handles", async () => {
    const t = await openTestDb();
    try {
      const second = await MetadataDB.open(join(t.root, "metadata.db"), {
        contentStore: t.blobs,
        gc: false,
      });
      try {
        await t.db.leases("ns").create({ id: "from-first" });
        const digest = await put(second.contentStore("ns", { lease: "from-first" }), "x");
        expect((await t.db.contentStore("ns").info(digest)).size).toBe(64);
        expect(await t.db.leases("ns").listResources({ id: "from-first" })).toEqual([
          { id: digest, type: "content" },
        ]);
        await Promise.all([
          ...Array.from({ length: 20 }, (_, i) => t.db.leases("ns").create({ id: `a${i}` })),
          ...Array.from({ length: 20 }, (_, i) => second.leases("ns").create({ id: `b${i}` })),
        ]);
        expect((await second.leases("ns").list()).length).toBe(41);
        await second.leases("ns").delete({ id: "from-first" }, { sync: true });
        expect(await inBackend(t.blobs, digest)).toBe(false);
      } finally {
        second.close();
      }
    } finally {
      await t.cleanup();
    }
  });

  it("runs the scheduler after a deletion and stops it on close", async () => {
    const t = await openTestDb({ startupDelayMs: 0, pauseThreshold: 0.02 });
    try {
      const digest = await put(t.db.contentStore("ns"), "x");
      expect(await inBackend(t.blobs, digest)).toBe(true);
      await t.db.leases("ns").create({ id: "l" });
      await t.db.leases("ns").delete({ id: "l" });
      for (let i = 0; i < 50 && (await inBackend(t.blobs, digest)); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(await inBackend(t.blobs, digest)).toBe(false);
      expect(t.db.scheduler?.collections).toBe(1);
      t.db.close();
      expect(() => t.db.leases("ns")).toThrow();
      let caught: unknown;
      try {
        t.db.contentStore("ns");
      } catch (err) {
        caught = err;
      }
      expect(isUnavailable(caught)).toBe(true);
    } finally {
      await t.cleanup();
    }
  });

  it("is consistent after the writing process is killed with SIGKILL", async () => {
    const root = await tempRoot();
    try {
      const child = spawn(
        process.execPath,
        [fileURLToPath(new URL("./testdata/crash_child.ts", import.meta.url)), root],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let stderr = "";
      child.stderr.on("data", (d) => {
        stderr += String(d);
      });
      await new Promise<void>((resolve, reject) => {
        let lines = 0;
        child.stdout.on("data", (d: Buffer) => {
          lines += String(d).split("\n").length - 1;
          if (lines >= 25) {
            child.kill("SIGKILL");
            resolve();
          }
        });
        child.on("exit", (code, signal) => {
          if (signal !== "SIGKILL") reject(new Error(`child exited ${code}: ${stderr}`));
        });
      });
      await new Promise((r) => child.once("close", r));
      const path = join(root, "metadata.db");
      const blobs = await LocalStore.open(join(root, "content"), { labels: false });
      const db = await MetadataDB.open(path, { contentStore: blobs, gc: false });
      const raw = new DatabaseSync(path);
      expect(raw.prepare("PRAGMA integrity_check").get()?.integrity_check).toBe("ok");
      expect(raw.prepare("PRAGMA foreign_key_check").all()).toEqual([]);
      const rows = raw.prepare("SELECT digest FROM content").all();
      expect(rows.length).toBeGreaterThan(10);
      for (const row of rows)
        expect(await inBackend(blobs, String(row.digest) as Digest)).toBe(true);
      raw.close();
      await db.gc();
      const leased = (await db.leases("crash").list()).length;
      let visible = 0;
      await db.contentStore("crash").walk(() => {
        visible++;
      });
      expect(visible).toBeGreaterThanOrEqual(leased - 1);
      db.close();
      await blobs.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }, 30_000);
});
