import { createHash } from "node:crypto";
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from "@strata/errdefs";
import type { Digest } from "@strata/oci";
import { describe, expect, it } from "vitest";
import { WRITE_BATCH } from "./_local_writer.ts";
import { LocalStore } from "./local_store.ts";
import { sha256, sha512, tempStore } from "./testdata/temp_store.ts";
import { contentSuite } from "./testsuite/mod.ts";

contentSuite("LocalStore (conformance)", async () => {
  const root = await mkdtemp(join(tmpdir(), "strata-content-"));
  let store = await LocalStore.open(root);
  return {
    store,
    async reopen() {
      // A crashed process leaves its writers unclosed: drop them, keep the files.
      await store.close();
      store = await LocalStore.open(root);
      return store;
    },
    async cleanup() {
      await store.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

describe("LocalStore", () => {
  it("lays blobs out as blobs/<alg>/<hex>, read-only, and ingests under a hash of the ref", async () => {
    await using t = await tempStore();
    const data = new TextEncoder().encode("hello");
    const writer = await t.store.writer({ ref: "layout", desc: { digest: sha256(data), size: 5 } });
    await writer.write(data.subarray(0, 2));
    const ingest = join(t.root, "ingest", createHash("sha256").update("layout").digest("hex"));
    expect(t.store.ingestPath("layout")).toBe(ingest);
    expect((await readdir(ingest)).sort()).toEqual(
      ["data", "expected", "ref", "startedat", "total", "updatedat"].sort(),
    );
    expect(await readFile(join(ingest, "ref"), "utf8")).toBe("layout");
    expect(await readFile(join(ingest, "total"), "utf8")).toBe("5");
    await writer.write(data.subarray(2));
    await writer.commit(5, sha256(data));
    const path = join(t.root, "blobs", "sha256", sha256(data).slice(7));
    expect(t.store.blobPath(sha256(data))).toBe(path);
    expect((await stat(path)).mode & 0o777).toBe(0o444);
    expect((await stat(join(t.root, "blobs", "sha256"))).mode & 0o777).toBe(0o755);
    expect(await readFile(path, "utf8")).toBe("hello");
    await expect(stat(ingest)).rejects.toThrow();
  });

  it("keeps files of hostile refs inside ingest/<64 hex>/", async () => {
    await using t = await tempStore();
    const refs = ["../../escape", "/etc/x", "a\0b", "..", "r".repeat(100_000), "ingest/../../y"];
    for (const ref of refs) {
      const writer = await t.store.writer({ ref });
      await writer.write(new Uint8Array([1]));
      await writer.close();
    }
    const all = await readdir(t.root, { recursive: true });
    for (const path of all) {
      expect(path).toMatch(
        /^(blobs|ingest|ingest\/[a-f0-9]{64}(\/(data|ref|startedat|updatedat))?)$/,
      );
    }
    expect(await readdir(join(t.root, "ingest"))).toHaveLength(refs.length);
  });

  it("rejects invalid digests for paths", async () => {
    await using t = await tempStore();
    for (const bad of [
      "",
      "sha256",
      "sha256:",
      "sha256:../../etc",
      `sha256:${"A".repeat(64)}`,
      "md5:00",
    ]) {
      expect(() => t.store.blobPath(bad as Digest)).toThrow(InvalidArgumentError);
    }
  });

  it("stores sha512 blobs when the descriptor or the commit asks for sha512", async () => {
    await using t = await tempStore();
    const a = new TextEncoder().encode("five-twelve a");
    const w1 = await t.store.writer({ ref: "s512-a", desc: { digest: sha512(a), size: a.length } });
    await w1.write(a);
    expect(w1.digest()).toBe(sha512(a));
    await w1.commit(a.length, undefined);
    expect((await t.store.info(sha512(a))).size).toBe(a.length);

    const b = new TextEncoder().encode("five-twelve b");
    const w2 = await t.store.writer({ ref: "s512-b" });
    await w2.write(b);
    expect(w2.digest()).toBe(sha256(b));
    await w2.commit(b.length, sha512(b));
    expect(await readFile(t.store.blobPath(sha512(b)), "utf8")).toBe("five-twelve b");
    await expect(t.store.info(sha256(b))).rejects.toThrow(NotFoundError);
  });

  it("verifies against the descriptor given at open when commit passes none", async () => {
    await using t = await tempStore();
    const data = new TextEncoder().encode("expected");
    const writer = await t.store.writer({ ref: "desc", desc: { digest: sha256(data), size: 8 } });
    await writer.write(new TextEncoder().encode("unexpect"));
    await expect(writer.commit(0, undefined)).rejects.toThrow(/expected digest sha256:/);
    const w2 = await t.store.writer({ ref: "desc" });
    await w2.truncate(0);
    await w2.write(new TextEncoder().encode("too long!"));
    await expect(w2.commit(0, undefined)).rejects.toThrow(FailedPreconditionError);
  });

  it("re-initialises an ingest whose status files are broken or whose total differs", async () => {
    await using t = await tempStore();
    const w = await t.store.writer({ ref: "broken", desc: { size: 10 } });
    await w.write(new Uint8Array(4));
    await w.close();
    // containerd#3089: an ingest directory with missing status files.
    await rm(join(t.store.ingestPath("broken"), "startedat"));
    const w2 = await t.store.writer({ ref: "broken" });
    expect((await w2.status()).offset).toBe(0);
    await w2.write(new Uint8Array(6));
    await w2.close();
    // No total was recorded: a writer that brings one resumes and records it.
    const w3 = await t.store.writer({ ref: "broken", desc: { size: 99 } });
    expect(await w3.status()).toMatchObject({ offset: 6, total: 99 });
    await w3.close();
    // A different total means another blob: start over.
    const w4 = await t.store.writer({ ref: "broken", desc: { size: 50 } });
    expect(await w4.status()).toMatchObject({ offset: 0, total: 50 });
    await w4.write(new Uint8Array(3));
    await w4.close();
    const w5 = await t.store.writer({ ref: "broken", desc: { size: 50 } });
    expect((await w5.status()).offset).toBe(3);
    await w5.close();
  });

  it("reads timestamps written by containerd (nanoseconds, offsets) and empty ones as zero", async () => {
    await using t = await tempStore();
    const w = await t.store.writer({ ref: "go-times" });
    await w.close();
    const dir = t.store.ingestPath("go-times");
    await writeFile(join(dir, "startedat"), "2024-03-01T10:20:30.123456789+01:00");
    await writeFile(join(dir, "updatedat"), "");
    await utimes(join(dir, "data"), new Date(0), new Date(0));
    const status = await t.store.status("go-times");
    expect(status.startedAt.toISOString()).toBe("2024-03-01T09:20:30.123Z");
    expect(status.updatedAt.getTime()).toBe(0);
  });

  it("excludes a second store instance on the same root from an open ref", async () => {
    await using t = await tempStore();
    const other = await LocalStore.open(t.root);
    const w = await t.store.writer({ ref: "shared" });
    await expect(other.writer({ ref: "shared" })).rejects.toThrow(UnavailableError);
    await w.close();
    const w2 = await other.writer({ ref: "shared" });
    await w2.close();
    await other.close();
  });

  it("without labels, drops commit labels and refuses update", async () => {
    await using t = await tempStore({ labels: false });
    const data = new TextEncoder().encode("no labels");
    const w = await t.store.writer({ ref: "nolabels" });
    await w.write(data);
    await w.commit(0, undefined, { labels: { a: "b" } });
    expect((await t.store.info(sha256(data))).labels).toEqual({});
    await expect(t.store.update({ digest: sha256(data), labels: { a: "b" } })).rejects.toThrow(
      FailedPreconditionError,
    );
    await expect(stat(join(t.root, "labels"))).rejects.toThrow();
  });

  it("skips unknown algorithms and stray files when walking", async () => {
    await using t = await tempStore();
    const data = new TextEncoder().encode("walk me");
    const w = await t.store.writer({ ref: "walk" });
    await w.write(data);
    await w.commit(0, undefined);
    await mkdir(join(t.root, "blobs", "blake3"), { recursive: true });
    await writeFile(join(t.root, "blobs", "blake3", "a".repeat(64)), "x");
    await writeFile(join(t.root, "blobs", "sha256", "not-a-digest.tmp"), "x");
    await mkdir(join(t.root, "blobs", "sha256", "b".repeat(64)));
    const seen: string[] = [];
    await t.store.walk((info) => {
      seen.push(info.digest);
    });
    expect(seen).toEqual([sha256(data)]);
  });

  it("closes its writers on close, keeps their ingests, and refuses further calls", async () => {
    await using t = await tempStore();
    const w = await t.store.writer({ ref: "closing" });
    await w.write(new Uint8Array(7));
    await t.store.close();
    await expect(w.write(new Uint8Array(1))).rejects.toThrow(FailedPreconditionError);
    await expect(t.store.status("closing")).rejects.toThrow(FailedPreconditionError);
    const again = await LocalStore.open(t.root);
    expect((await again.status("closing")).offset).toBe(7);
    await again.close();
  });

  it("honours an aborted signal", async () => {
    await using t = await tempStore();
    const ac = new AbortController();
    ac.abort();
    await expect(t.store.writer({ ref: "sig", signal: ac.signal })).rejects.toThrow(/abort/i);
    const w = await t.store.writer({ ref: "sig" });
    await expect(w.write(new Uint8Array(1), { signal: ac.signal })).rejects.toThrow(/abort/i);
    await expect(w.commit(0, undefined, { signal: ac.signal })).rejects.toThrow(/abort/i);
    expect((await t.store.status("sig")).offset).toBe(0);
  });
});

describe("LocalStore writer batching", () => {
  it("stores the right bytes when the caller reuses its buffer, whatever the chunk sizes", async () => {
    await using t = await tempStore();
    const w = await t.store.writer({ ref: "reuse" });
    const hash = createHash("sha256");
    const buffer = new Uint8Array(2 * WRITE_BATCH + 5);
    // Small chunks fill the staging buffer; a batch or more with nothing
    // staged goes straight from the caller's buffer; one that meets staged
    // bytes is copied across two batches.
    const sizes = [
      1,
      100 << 10,
      WRITE_BATCH - 3,
      3,
      WRITE_BATCH,
      2 * WRITE_BATCH + 5,
      7,
      WRITE_BATCH,
    ];
    let total = 0;
    for (const [i, size] of sizes.entries()) {
      const chunk = buffer.subarray(0, size);
      chunk.fill(i + 1);
      chunk[0] = 0xee;
      hash.update(chunk);
      await w.write(chunk);
      buffer.fill(0xff); // the writer must not have kept a reference
      total += size;
      expect((await w.status()).offset).toBe(total);
    }
    const digest: Digest = `sha256:${hash.digest("hex")}`;
    expect(w.digest()).toBe(digest);
    await w.commit(total, digest);
    const stored = await readFile(t.store.blobPath(digest));
    expect(stored.length).toBe(total);
    expect(sha256(stored)).toBe(digest);
  });

  it("counts staged bytes in status, and keeps them when the writer closes", async () => {
    await using t = await tempStore();
    const data = new TextEncoder().encode("staged, not yet written");
    const w = await t.store.writer({ ref: "staged" });
    await w.write(data);
    expect((await t.store.status("staged")).offset).toBe(data.length);
    expect((await t.store.listStatuses())[0]?.offset).toBe(data.length);
    // A batch is written when full, or on commit, close or truncate.
    expect((await stat(join(t.store.ingestPath("staged"), "data"))).size).toBe(0);
    await w.close();
    expect((await stat(join(t.store.ingestPath("staged"), "data"))).size).toBe(data.length);
    const again = await t.store.writer({ ref: "staged" });
    expect(again.digest()).toBe(sha256(data));
    await again.commit(data.length, sha256(data));
  });
});

describe("LocalStore cancellation", () => {
  it("rejects with the signal's own AbortError, not a wrapped one", async () => {
    await using t = await tempStore();
    const ac = new AbortController();
    ac.abort();
    const err = await t.store.writer({ ref: "c", signal: ac.signal }).catch((e: unknown) => e);
    expect((err as Error).name).toBe("AbortError");
  });
});

describe("LocalStore resume after a crash inside commit", () => {
  it("resumes an ingest whose data was already made read-only", async () => {
    await using t = await tempStore();
    const data = new TextEncoder().encode("half-committed");
    const w = await t.store.writer({ ref: "ro" });
    await w.write(data.subarray(0, 4));
    await w.close();
    await chmod(join(t.store.ingestPath("ro"), "data"), 0o444);
    const w2 = await t.store.writer({ ref: "ro" });
    expect((await w2.status()).offset).toBe(4);
    await w2.write(data.subarray(4));
    await w2.commit(data.length, sha256(data));
  });
});
