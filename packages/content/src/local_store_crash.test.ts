import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WRITE_BATCH } from "./_local_writer.ts";
import { LocalStore } from "./local_store.ts";
import { patternBytes, patternDigest } from "./testdata/pattern.ts";

const CHILD = fileURLToPath(new URL("./testdata/ingest_child.ts", import.meta.url));

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "strata-crash-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Starts the child and resolves with it once it printed a line matching `ready`. */
function startChild(args: string[], ready: RegExp): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => {
      if (ready.test(line)) resolve({ child, line });
    });
    child.on("exit", (code, signal) =>
      reject(new Error(`child exited early (${code ?? signal}): ${stderr}`)),
    );
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.removeAllListeners("exit");
    child.on("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

describe("LocalStore with a writer process that dies or fails", () => {
  it("resumes an ingest whose writer process was killed mid-write and commits it", async () => {
    const total = 16 << 20;
    const { child, line } = await startChild(
      ["ingest", root, "crash-1", String(total)],
      /^written /,
    );
    const reported = Number(line.split(" ")[1]);
    await kill(child);

    const store = await LocalStore.open(root);
    try {
      const status = await store.status("crash-1");
      expect(status.ref).toBe("crash-1");
      expect(status.total).toBe(total);
      // Accepted bytes may still be staged (one batch) or in flight (another)
      // when the process dies: a resume starts that much earlier, never later.
      expect(status.offset).toBeGreaterThanOrEqual(Math.max(0, reported - 2 * WRITE_BATCH));
      expect(status.offset).toBeLessThanOrEqual(total);

      const writer = await store.writer({ ref: "crash-1" });
      const offset = (await writer.status()).offset;
      expect(offset).toBe(status.offset);
      const chunk = 1 << 20;
      for (let at = offset; at < total; at += chunk) {
        await writer.write(patternBytes(0, at, Math.min(chunk, total - at)));
      }
      const digest = patternDigest(0, total);
      await writer.commit(total, digest);
      expect(await sha256File(store.blobPath(digest))).toBe(digest);
      expect(await store.listStatuses()).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("fails every call after a background write fails, and keeps a resumable prefix", async () => {
    // A file size limit (ulimit -f, KiB) makes the data file's writes fail
    // with EFBIG (Node ignores SIGXFSZ) once 6 MiB are written: inside the
    // second batch, which is written in the background.
    const total = 16 << 20;
    const limitKiB = 6 << 10;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        "bash",
        [
          "-c",
          `ulimit -f ${limitKiB} && exec "$0" "$@"`,
          process.execPath,
          CHILD,
          "limited",
          root,
          "lim",
          String(total),
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      child.on("exit", (code) =>
        code === 0 ? resolve(stdout) : reject(new Error(`child exited ${code}: ${stderr}`)),
      );
    });
    const report = JSON.parse(out) as {
      failures: { at: number; message: string }[];
      commit: string;
      chunk: number;
    };
    // The failure shows at a later call (the write that failed was in the
    // background); from then on every write fails, and so does commit.
    const first = report.failures[0];
    expect(first, "no write failed").toBeDefined();
    expect((first as { at: number }).at).toBeGreaterThanOrEqual(limitKiB << 10);
    expect(report.failures.length).toBe((total - (first as { at: number }).at) / report.chunk);
    expect(first?.message).toMatch(/EFBIG|too large/i);
    expect(report.commit).toMatch(/EFBIG|too large/i);

    // What reached the file is a prefix, and the ingest resumes from it.
    const store = await LocalStore.open(root);
    try {
      const writer = await store.writer({ ref: "lim" });
      const offset = (await writer.status()).offset;
      expect(offset).toBe(limitKiB << 10);
      expect(writer.digest()).toBe(patternDigest(0, offset));
      await writer.write(patternBytes(0, offset, total - offset));
      await writer.commit(total, patternDigest(0, total));
    } finally {
      await store.close();
    }
  });

  it("leaves each blob whole or absent when killed during commits", async () => {
    const size = 2 << 20;
    for (const delay of [0, 7, 23]) {
      const { child } = await startChild(["commits", root, String(size)], /^committed [2-9]$/);
      await new Promise((r) => setTimeout(r, delay));
      await kill(child);
    }
    const store = await LocalStore.open(root);
    try {
      const dir = join(root, "blobs", "sha256");
      const names = await readdir(dir);
      // Only finished blobs are in blobs/: no temporaries, no partial files.
      expect(names.length).toBeGreaterThanOrEqual(2);
      for (const name of names) {
        expect(name).toMatch(/^[a-f0-9]{64}$/);
        expect(await sha256File(join(dir, name))).toBe(`sha256:${name}`);
      }
      // Every blob the child may have been writing is either whole or absent.
      let present = 0;
      for (let seed = 1; seed <= 64; seed++) {
        const digest = patternDigest(seed, size);
        try {
          const info = await store.info(digest);
          expect(info.size).toBe(size);
          present++;
        } catch {
          // absent: fine
        }
      }
      expect(present).toBe(names.length);
      // Interrupted ingests are resumable and can be committed.
      for (const status of await store.listStatuses()) {
        const seed = Number(status.ref.replace("blob-", ""));
        const writer = await store.writer({ ref: status.ref });
        const offset = (await writer.status()).offset;
        await writer.write(patternBytes(seed, offset, size - offset));
        await writer.commit(size, patternDigest(seed, size)).catch((err: unknown) => {
          // Killed after the rename but before the ingest was removed.
          expect(String(err)).toMatch(/already exists/);
        });
      }
    } finally {
      await store.close();
    }
  });
});
