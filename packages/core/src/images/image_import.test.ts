import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CacheManager, ImmutableRef } from "@strata/cache";
import type { ImageIndex, ImageManifest } from "@strata/oci";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StrataRoot } from "../strata_root.ts";

let tmp: string;
let source: StrataRoot;
let base: string;
let top: string;
let n = 0;
const damaged = new Map<string, string>();

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "strata-core-import-"));
  source = await StrataRoot.open(join(tmp, "source"), { snapshotter: "native" });
  const d1 = join(tmp, "d1");
  await mkdir(join(d1, "etc"), { recursive: true });
  await writeFile(join(d1, "etc", "hostname"), "base\n");
  await writeFile(join(d1, "data.bin"), Buffer.alloc(256 << 10, 1));
  const d2 = join(tmp, "d2");
  await mkdir(d2);
  await writeFile(join(d2, "top.bin"), Buffer.alloc(512 << 10, 2));
  const cache = source.session("default").cache;
  base = (await cache.commitDirectory(d1, { description: "base" })).id;
  top = (await cache.commitDirectory(d2, { parent: base, description: "top" })).id;
});

afterAll(async () => {
  await source?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** Exports `ref` to a new OCI layout; returns its directory and manifest. */
async function layoutOf(ref: string): Promise<{ dir: string; manifest: ImageManifest }> {
  const dir = join(tmp, `layout-${++n}`);
  await source.session("default").cache.exportImage(ref, `oci:${dir}:v1`);
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as ImageIndex;
  const digest = index.manifests[0]?.digest as string;
  const manifest = JSON.parse(
    await readFile(join(dir, "blobs", "sha256", digest.slice(7)), "utf8"),
  ) as ImageManifest;
  return { dir, manifest };
}

function blobPath(dir: string, digest: string): string {
  return join(dir, "blobs", "sha256", digest.slice("sha256:".length));
}

/** The layout of base+top with its top layer damaged as `how` says. */
async function damagedLayout(how: "corrupt" | "truncate"): Promise<string> {
  const { dir, manifest } = await layoutOf(top);
  const digest = manifest.layers[1]?.digest as string;
  damaged.set(dir, digest);
  const path = blobPath(dir, digest);
  if (how === "truncate") {
    await truncate(path, 100);
  } else {
    const bytes = await readFile(path);
    for (let i = 64; i < bytes.length; i += 101) bytes[i] = (bytes[i] as number) ^ 0x5a;
    await writeFile(path, bytes);
  }
  return dir;
}

/** The top layer's digest in the (damaged) layout at `dir`. */
function layerDigest(dir: string): string {
  const digest = damaged.get(dir);
  if (digest === undefined) throw new Error(`${dir} is not a damaged layout`);
  return digest;
}

/** Every blob digest the root's default namespace records. */
async function blobs(cm: CacheManager): Promise<string[]> {
  const out: string[] = [];
  await cm.content.walk((info) => {
    out.push(info.digest);
  });
  return out.sort();
}

describe("importImage (failure)", () => {
  for (const how of ["corrupt", "truncate"] as const) {
    it(`removes the records it created when a layer blob is ${how === "corrupt" ? "corrupted" : "truncated"} (eager import)`, async () => {
      const dir = await damagedLayout(how);
      const root = await StrataRoot.open(join(tmp, `root-${++n}`), { snapshotter: "native" });
      try {
        const cm = await root.cacheManager("default");
        const err = await root
          .session("default")
          .cache.importImage(`oci:${dir}:v1`, { lazy: false })
          .catch((e: unknown) => e);
        expect(String(err)).toContain(layerDigest(dir));
        expect(cm.records.list()).toEqual([]);
        // What the removed records held (the good base blob, its snapshot) is collected.
        expect(await blobs(cm)).toEqual([]);
        const keys: string[] = [];
        await cm.snapshotter.walk((info) => {
          keys.push(info.name);
        });
        expect(keys).toEqual([]);
      } finally {
        await root.close();
      }
    });
  }

  it("keeps the records that existed before, unpacked as they were", async () => {
    const good = await layoutOf(base);
    const dir = await damagedLayout("corrupt");
    const root = await StrataRoot.open(join(tmp, `root-${++n}`), { snapshotter: "native" });
    try {
      const cache = root.session("default").cache;
      const cm = await root.cacheManager("default");
      const first = await cache.importImage(`oci:${good.dir}:v1`, { lazy: false });
      const before = cm.records.list();
      const blobsBefore = await blobs(cm);
      expect(before.map((r) => r.id)).toEqual([first.ref]);
      const err = await cache
        .importImage(`oci:${dir}:v1`, { lazy: false })
        .catch((e: unknown) => e);
      expect(String(err)).toContain(layerDigest(dir));
      const after = cm.records.list();
      expect(after.map((r) => r.id)).toEqual([first.ref]);
      const [kept] = after;
      expect(kept?.blobOnly).toBe(false);
      expect(kept?.snapshotID).toBe(before[0]?.snapshotID);
      expect(await blobs(cm)).toEqual(blobsBefore);
      await cm.snapshotter.stat(kept?.snapshotID as string);
      // The same import from an intact layout now works on top of it.
      const intact = await layoutOf(top);
      const again = await cache.importImage(`oci:${intact.dir}:v1`, { lazy: false });
      expect(again.refs[0]).toBe(first.ref);
    } finally {
      await root.close();
    }
  });

  it("keeps the records it created while another ref handle holds them", async () => {
    const dir = await damagedLayout("corrupt");
    const root = await StrataRoot.open(join(tmp, `root-${++n}`), { snapshotter: "native" });
    try {
      const cm = await root.cacheManager("default");
      let taken: Promise<ImmutableRef> | undefined;
      const err = await root
        .session("default")
        .cache.importImage(`oci:${dir}:v1`, {
          lazy: false,
          // Every record exists when unpacking starts; the handle is opened
          // synchronously there, before any blob is read.
          onProgress: (e) => {
            if (e.action === "unpacking" && !e.done) taken = cm.get(e.id);
          },
        })
        .catch((e: unknown) => e);
      expect(String(err)).toContain(layerDigest(dir));
      const ref = await (taken as Promise<ImmutableRef>);
      expect(cm.records.list().map((r) => r.id)).toContain(ref.id);
      expect(cm.records.list()).toHaveLength(2);
      await ref.release();
      expect(cm.records.list()).toHaveLength(2);
    } finally {
      await root.close();
    }
  });

  it("keeps the records another import of the same layers returned while it ran", async () => {
    // A registry that holds the top layer's answer until the other import
    // is done, then sends it corrupted: the order is certain.
    const { dir, manifest } = await layoutOf(top);
    const topLayer = manifest.layers[1]?.digest as string;
    const gate = Promise.withResolvers<void>();
    const server = await serveImage(dir, manifest, async (digest, bytes) => {
      if (digest !== topLayer) return bytes;
      await gate.promise;
      const bad = Buffer.from(bytes);
      for (let i = 64; i < bad.length; i += 101) bad[i] = (bad[i] as number) ^ 0x5a;
      return bad;
    });
    const root = await StrataRoot.open(join(tmp, `root-${++n}`), { snapshotter: "native" });
    try {
      const cache = root.session("default").cache;
      const cm = await root.cacheManager("default");
      const source = `registry:${server.host}/e2e/app:v1`;
      const registry = { dockerConfig: false as const };
      let other: Promise<{ refs: string[] }> | undefined;
      const err = await cache
        .importImage(source, {
          lazy: false,
          registry,
          onProgress: (e) => {
            if (e.action !== "unpacking" || e.done) return;
            other = cache.importImage(source, { lazy: true, registry });
            void other.finally(() => gate.resolve());
          },
        })
        .catch((e: unknown) => e);
      expect(String(err)).toContain(topLayer);
      const { refs } = await (other as Promise<{ refs: string[] }>);
      expect(refs).toHaveLength(2);
      expect(cm.records.list().map((r) => r.id)).toEqual(refs);
    } finally {
      await root.close();
      await server.stop();
    }
  });
});

/**
 * A minimal distribution API for the image of OCI layout `dir` as
 * `e2e/app:v1`; `blob` may hold or change a blob's bytes before they go.
 */
async function serveImage(
  dir: string,
  manifest: ImageManifest,
  blob: (digest: string, bytes: Buffer) => Promise<Buffer>,
): Promise<{ host: string; stop(): Promise<void> }> {
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = `sha256:${createHash("sha256").update(manifestBytes).digest("hex")}`;
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    const m = /^\/v2\/e2e\/app\/(manifests|blobs)\/(.+)$/.exec(path);
    void (async () => {
      if (path === "/v2/" || path === "/v2") {
        res.writeHead(200).end("{}");
      } else if (m?.[1] === "manifests") {
        res.writeHead(200, {
          "content-type": manifest.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
          "content-length": manifestBytes.length,
          "docker-content-digest": manifestDigest,
        });
        res.end(req.method === "HEAD" ? undefined : manifestBytes);
      } else if (m?.[1] === "blobs") {
        const digest = m[2] as string;
        const bytes = await readFile(blobPath(dir, digest)).catch(() => undefined);
        if (bytes === undefined) {
          res.writeHead(404).end();
          return;
        }
        const headers = {
          "content-type": "application/octet-stream",
          "content-length": bytes.length,
          "docker-content-digest": digest,
        };
        if (req.method === "HEAD") {
          res.writeHead(200, headers).end();
          return;
        }
        res.writeHead(200, headers).end(await blob(digest, bytes));
      } else {
        res.writeHead(404).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    host: `127.0.0.1:${port}`,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
