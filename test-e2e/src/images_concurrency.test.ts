// Eight exports at once of refs that share their base layers, to the
// reference registry: in one process (Strata's core, as stratad runs it) each
// blob is computed once — the cache manager's differ and conversion counters
// prove it — and as eight `strata image export` processes on one embedded
// root each blob is computed once too (the cache manager's cross-process
// locks under <root>/locks): every blob computed or converted goes through an
// ingest of its own in the root's content store, so the test counts the
// ingests the eight processes open. Every process succeeds and all images
// carry the same base blobs. Needs root (overlayfs snapshots).
import { type FSWatcher, watch } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StrataRoot } from "@strata/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireProgram } from "./_daemons.ts";
import { pseudoRandom, strata, strataOk } from "./_images.ts";
import { mustRun, requireRoot } from "./_layer_fixture.ts";
import {
  type CountingProxy,
  type Registry,
  startCountingProxy,
  startRegistry,
} from "./_registry.ts";

const EXPORTS = 8;

let work: string;
let registry: Registry;
let proxy: CountingProxy;

/** Directories for two shared base layers and eight tops, each top with its own file. */
async function makeDirs(): Promise<{ base0: string; base1: string; tops: string[] }> {
  const base0 = join(work, "base0");
  const base1 = join(work, "base1");
  await mkdir(join(base0, "etc"), { recursive: true });
  await writeFile(join(base0, "etc", "os-release"), "ID=strata-e2e\n");
  await writeFile(join(base0, "big.bin"), pseudoRandom("base0", 2 << 20));
  await mkdir(join(base1, "usr", "lib"), { recursive: true });
  await writeFile(join(base1, "usr", "lib", "lib.so"), pseudoRandom("base1", 1 << 20));
  const tops: string[] = [];
  for (let i = 0; i < EXPORTS; i++) {
    const top = join(work, `top${i}`);
    await mkdir(join(top, "app"), { recursive: true });
    await writeFile(join(top, "app", "main"), `app number ${i}\n`);
    tops.push(top);
  }
  return { base0, base1, tops };
}

/** `skopeo inspect` of an image in the registry: its digest and layers. */
async function inspect(repo: string): Promise<{ Digest: string; Layers: string[] }> {
  return JSON.parse(
    await mustRun("skopeo", [
      "inspect",
      "--tls-verify=false",
      `docker://${registry.host}/${repo}:v1`,
    ]),
  ) as { Digest: string; Layers: string[] };
}

let dirs: Awaited<ReturnType<typeof makeDirs>>;

/**
 * Counts the ingests opened in a root's content store from now until `stop`,
 * by any process. Each blob the cache manager computes (a differ run) or
 * converts is written through an ingest under a fresh random ref, that is a
 * directory of its own in `content/ingest/`, so the count is the number of
 * blobs written: two processes computing one blob would show two.
 */
async function watchIngests(root: string): Promise<{ stop(): Promise<number> }> {
  const dir = join(root, "content", "ingest");
  expect(await readdir(dir)).toEqual([]);
  const names = new Set<string>();
  const watcher: FSWatcher = watch(dir, (_event, name) => {
    if (name !== null) names.add(name);
  });
  return {
    async stop() {
      // inotify events are queued by the kernel; let the last ones arrive.
      await new Promise((r) => setTimeout(r, 200));
      watcher.close();
      expect(await readdir(dir)).toEqual([]);
      return names.size;
    },
  };
}

beforeAll(async () => {
  requireRoot();
  for (const p of ["skopeo", "docker-registry"]) await requireProgram(p);
  work = await mkdtemp(join(tmpdir(), "e2e-images-concurrency-"));
  dirs = await makeDirs();
  registry = await startRegistry();
  proxy = await startCountingProxy(registry.port);
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("eight concurrent exports in one process (the core library)", () => {
  it("compute each layer blob once, then convert each once, and push correct images", async () => {
    const root = await StrataRoot.open(join(work, "lib-root"));
    try {
      const session = root.session("default");
      const cm = await root.cacheManager("default");
      const base0 = await session.cache.commitDirectory(dirs.base0);
      const base1 = await session.cache.commitDirectory(dirs.base1, { parent: base0.id });
      const tops = [];
      for (const dir of dirs.tops)
        tops.push(await session.cache.commitDirectory(dir, { parent: base1.id }));
      const before = { ...cm.stats };

      const results = await Promise.all(
        tops.map((t, i) =>
          session.cache.exportImage(t.id, `registry:${proxy.host}/e2e/lib-${i}:v1`),
        ),
      );
      // Two shared base layers and eight tops: ten differ runs, not 8 × 3.
      expect(cm.stats.differRuns - before.differRuns).toBe(2 + EXPORTS);
      expect(cm.stats.conversions - before.conversions).toBe(0);
      const bases = new Set(
        results.map((r) => JSON.stringify(r.layers.slice(0, 2).map((l) => l.digest))),
      );
      expect(bases.size).toBe(1);
      expect(new Set(results.map((r) => r.layers[2]?.digest)).size).toBe(EXPORTS);
      for (const [i, r] of results.entries()) {
        const seen = await inspect(`e2e/lib-${i}`);
        expect(seen.Digest).toBe(r.manifest.digest);
        expect(seen.Layers).toEqual(r.layers.map((l) => l.digest));
      }

      // The same eight, forced to zstd: each layer converted once, no differ run.
      const zstd = await Promise.all(
        tops.map((t, i) =>
          session.cache.exportImage(t.id, `registry:${proxy.host}/e2e/lib-zstd-${i}:v1`, {
            compression: "zstd",
            forceCompression: true,
          }),
        ),
      );
      expect(cm.stats.differRuns - before.differRuns).toBe(2 + EXPORTS);
      expect(cm.stats.conversions - before.conversions).toBe(2 + EXPORTS);
      for (const r of zstd) {
        expect(r.layers.map((l) => l.mediaType)).toEqual(
          Array(3).fill("application/vnd.oci.image.layer.v1.tar+zstd"),
        );
      }
    } finally {
      await root.close();
    }
  }, 180_000);
});

describe("eight concurrent `strata image export` processes on one embedded root", () => {
  it("compute each layer blob once, then convert each once, and all agree", async () => {
    const root = join(work, "cli-root");
    const base0 = await strataOk(root, ["commit", dirs.base0]);
    const base1 = await strataOk(root, ["commit", dirs.base1, "--parent", base0]);
    const tops: string[] = [];
    for (const dir of dirs.tops)
      tops.push(await strataOk(root, ["commit", dir, "--parent", base1]));
    proxy.clear();
    let ingests = await watchIngests(root);
    const runs = await Promise.all(
      tops.map((t, i) =>
        strata(root, ["image", "export", t, "--to", `registry:${proxy.host}/e2e/cli-${i}:v1`]),
      ),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    // Two shared base layers and eight tops: ten blobs written, not 8 × 3.
    expect(await ingests.stop()).toBe(2 + EXPORTS);
    const images = await Promise.all(tops.map((_, i) => inspect(`e2e/cli-${i}`)));
    for (const [i, image] of images.entries()) {
      expect(image.Digest).toBe(runs[i]?.stdout.trim().split("\n").at(-1));
      expect(image.Layers).toHaveLength(3);
    }
    expect(new Set(images.map((im) => JSON.stringify(im.Layers.slice(0, 2)))).size).toBe(1);
    // One blob per layer in the root's store: 2 bases + 8 tops.
    const ls = await strata(root, ["content", "ls", "-q"]);
    expect(ls.code, ls.stderr).toBe(0);
    const blobs = ls.stdout.split("\n").filter((l) => l !== "");
    const layers = new Set(images.flatMap((im) => im.Layers));
    expect(layers.size).toBe(2 + EXPORTS);
    for (const l of layers) expect(blobs).toContain(l);
    // Both records of the base layers name that one blob.
    for (const [ref, digest] of [
      [base0, images[0]?.Layers[0]],
      [base1, images[0]?.Layers[1]],
    ] as const) {
      const info = JSON.parse((await strata(root, ["ref", "info", ref])).stdout) as {
        blob?: string;
      };
      expect(info.blob).toBe(digest);
    }
    // A ninth export after them finds every blob in its target: no upload,
    // and nothing computed.
    proxy.clear();
    ingests = await watchIngests(root);
    await strataOk(root, [
      "image",
      "export",
      tops[0] as string,
      "--to",
      `registry:${proxy.host}/e2e/cli-0:v1`,
    ]);
    expect(proxy.uploads()).toEqual([]);
    expect(await ingests.stop()).toBe(0);

    // The same eight, forced to zstd, again as eight processes: each layer
    // converted once (ten variants written), every image in zstd.
    ingests = await watchIngests(root);
    const zstd = await Promise.all(
      tops.map((t, i) =>
        strata(root, [
          "image",
          "export",
          t,
          "--to",
          `registry:${proxy.host}/e2e/cli-zstd-${i}:v1`,
          "--compression",
          "zstd",
          "--force-compression",
        ]),
      ),
    );
    for (const r of zstd) expect(r.code, r.stderr).toBe(0);
    expect(await ingests.stop()).toBe(2 + EXPORTS);
    const zstdImages = await Promise.all(tops.map((_, i) => inspect(`e2e/cli-zstd-${i}`)));
    expect(new Set(zstdImages.map((im) => JSON.stringify(im.Layers.slice(0, 2)))).size).toBe(1);
    for (const [i, image] of zstdImages.entries()) {
      expect(image.Digest).toBe(zstd[i]?.stdout.trim().split("\n").at(-1));
      expect(image.Layers).toHaveLength(3);
      expect(image.Layers).not.toContain(images[i]?.Layers[2]);
    }
    // No lock is left behind.
    expect(await readdir(join(root, "locks"))).toEqual([]);
  }, 240_000);
});
