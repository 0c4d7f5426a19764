import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isInvalidArgument, isNotFound } from "@strata/errdefs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StrataRoot } from "../strata_root.ts";
import { readTree, startRegistry, type TestRegistry } from "./_test_registry.ts";

let tmp: string;
let registry: TestRegistry;
let source: StrataRoot;
let top: string;

const noDockerConfig = { dockerConfig: false as const };

beforeAll(async () => {
  registry = await startRegistry();
  tmp = await mkdtemp(join(tmpdir(), "strata-core-registry-test-"));
  source = await StrataRoot.open(join(tmp, "a"), { snapshotter: "native" });
  const d1 = join(tmp, "d1");
  await mkdir(join(d1, "usr", "bin"), { recursive: true });
  await writeFile(join(d1, "usr", "bin", "tool"), Buffer.alloc(2 << 20, 3));
  const d2 = join(tmp, "d2");
  await mkdir(d2);
  await writeFile(join(d2, "hello.txt"), "hello\n");
  const cache = source.session("default").cache;
  const base = await cache.commitDirectory(d1);
  top = (await cache.commitDirectory(d2, { parent: base.id })).id;
});

afterAll(async () => {
  await source?.close();
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

const blobWrites = (requests: readonly string[]) =>
  requests.filter((r) => /^(POST|PUT|PATCH) \/v2\/.*\/blobs\//.test(r));
const layerReads = (requests: readonly string[]) =>
  requests.filter((r) => /^GET \/v2\/.*\/blobs\//.test(r));

describe("exportImage to a registry", () => {
  it("pushes once; a second export uploads no blob and gives the same digest", async () => {
    const cache = source.session("default").cache;
    const ref = `registry:${registry.host}/strata/test:v1`;
    const first = await cache.exportImage(top, ref, { registry: noDockerConfig });
    expect(first.blobsSent).toBe(3);
    expect(first.target).toBe(ref);
    const before = registry.requests.length;
    const second = await cache.exportImage(top, ref, { registry: noDockerConfig });
    expect(second.manifest.digest).toBe(first.manifest.digest);
    expect(second.blobsSent).toBe(0);
    expect(blobWrites(registry.requests.slice(before))).toEqual([]);
    const res = await fetch(`http://${registry.host}/v2/strata/test/manifests/v1`, {
      method: "HEAD",
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    expect(res.headers.get("docker-content-digest")).toBe(first.manifest.digest);
  });
});

describe("importImage from a registry", () => {
  it("is lazy by default: only manifest and config until the contents are used", async () => {
    const cache = source.session("default").cache;
    const ref = `registry:${registry.host}/strata/lazy:v1`;
    await cache.exportImage(top, ref, { registry: noDockerConfig });
    const other = await StrataRoot.open(join(tmp, "b"), { snapshotter: "native" });
    try {
      const before = registry.requests.length;
      const imported = await other
        .session("default")
        .cache.importImage(ref, { registry: noDockerConfig });
      const during = registry.requests.slice(before);
      expect(layerReads(during)).toHaveLength(1); // the config blob
      expect(during.filter((r) => r.includes("/manifests/")).length).toBeGreaterThan(0);
      const info = await other.session("default").cache.refInfo(imported.ref);
      expect(info.lazy).toBe(true);
      expect(info.chainID).toBe((await cache.refInfo(top)).chainID);
      const mid = registry.requests.length;
      const cm = await other.cacheManager("default");
      const handle = await cm.get(imported.ref);
      try {
        const [m] = await handle.mount();
        expect(m?.type).toBe("bind");
        const tree = await readTree(m?.source as string);
        expect(tree["hello.txt"]).toBe(`file 644 ${Buffer.from("hello\n").toString("base64")}`);
        expect(Object.keys(tree)).toContain("usr/bin/tool");
      } finally {
        await handle.release();
      }
      // Two layers, each in one streamed GET.
      expect(layerReads(registry.requests.slice(mid))).toHaveLength(2);
    } finally {
      await other.close();
    }
  });

  it("fetches lazy blobs in a later process from the recorded source", async () => {
    const ref = `registry:${registry.host}/strata/later:v1`;
    await source.session("default").cache.exportImage(top, ref, { registry: noDockerConfig });
    const dir = join(tmp, "c");
    let id: string;
    const first = await StrataRoot.open(dir, { snapshotter: "native" });
    try {
      id = (await first.session("default").cache.importImage(ref, { registry: noDockerConfig }))
        .ref;
    } finally {
      await first.close();
    }
    const second = await StrataRoot.open(dir, { snapshotter: "native" });
    try {
      const out = join(tmp, "from-lazy");
      const result = await second
        .session("default")
        .cache.exportImage(id, `oci:${out}`, { registry: noDockerConfig });
      expect(result.blobsSent).toBe(3);
    } finally {
      await second.close();
    }
  });

  it("fails with NotFound for a missing tag", async () => {
    const e = await source
      .session("default")
      .cache.importImage(`registry:${registry.host}/strata/none:v1`, { registry: noDockerConfig })
      .catch((err: unknown) => err);
    expect(isNotFound(e)).toBe(true);
    const e2 = await source
      .session("default")
      .cache.importImage(`registry:${registry.host}/UPPER:v1`)
      .catch((err: unknown) => err);
    expect(isInvalidArgument(e2)).toBe(true);
  });
});
