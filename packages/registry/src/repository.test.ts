import { randomBytes } from "node:crypto";
import {
  isDataLoss,
  isInvalidArgument,
  isNotFound,
  isResourceExhausted,
  isUnavailable,
} from "@strata/errdefs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunksOf, collect, descOf, startRegistry, type TestRegistry } from "./_test_registry.ts";
import { startCuttingProxy, startHttpProxy } from "./_test_servers.ts";
import { RegistryClient } from "./registry_client.ts";

const FAST = { retries: 3, minDelay: 5, maxDelay: 50 };

let registry: TestRegistry;
beforeAll(async () => {
  registry = await startRegistry();
});
afterAll(async () => {
  await registry?.stop();
});

function client(options?: ConstructorParameters<typeof RegistryClient>[0]): RegistryClient {
  return new RegistryClient({ retry: FAST, ...options });
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

function manifestFor(config: Uint8Array, layers: Uint8Array[]): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: descOf(config, "application/vnd.oci.image.config.v1+json"),
      layers: layers.map((l) => descOf(l, "application/vnd.oci.image.layer.v1.tar")),
    }),
  );
}

describe("Repository.pushBlob", () => {
  it("uploads a small blob with one PUT and a large one in PATCH chunks", async () => {
    const proxy = await startHttpProxy(registry.port);
    try {
      const repo = client({ chunkSize: 256 * 1024 }).repository(`127.0.0.1:${proxy.port}/push/a`);
      const small = randomBytes(1000);
      const large = randomBytes(1024 * 1024 + 3);
      expect(await repo.pushBlob(descOf(small), chunksOf(small, 100))).toBe("uploaded");
      const afterSmall = proxy.requests.length;
      expect(proxy.requests.filter((r) => r.method === "PATCH")).toHaveLength(0);
      expect(await repo.pushBlob(descOf(large), chunksOf(large, 100_000))).toBe("uploaded");
      const patches = proxy.requests.slice(afterSmall).filter((r) => r.method === "PATCH");
      expect(patches.map((r) => r.headers["content-range"])).toEqual([
        "0-262143",
        "262144-524287",
        "524288-786431",
        "786432-1048575",
        "1048576-1048578",
      ]);
      expect(await collect(repo.fetchBlob(descOf(small)))).toEqual(small);
      expect(await collect(repo.fetchBlob(descOf(large)))).toEqual(large);
    } finally {
      await proxy.stop();
    }
  });

  it("streams a large blob in one PATCH by default", async () => {
    const proxy = await startHttpProxy(registry.port);
    try {
      const repo = client({ monolithicMax: 64 * 1024 }).repository(
        `127.0.0.1:${proxy.port}/push/stream`,
      );
      const large = randomBytes(3 * 1024 * 1024 + 5);
      expect(await repo.pushBlob(descOf(large), chunksOf(large, 100_000))).toBe("uploaded");
      const methods = proxy.requests.map((r) => r.method);
      expect(methods).toEqual(["HEAD", "POST", "PATCH", "PUT"]);
      expect(proxy.requests[2]?.headers["content-range"]).toBe(`0-${large.length - 1}`);
      expect(await collect(repo.fetchBlob(descOf(large)))).toEqual(large);
    } finally {
      await proxy.stop();
    }
  });

  it("refuses a streamed source longer or shorter than its descriptor, storing nothing", async () => {
    const repo = client({ monolithicMax: 1024 }).repository(`${registry.host}/push/stream-size`);
    const data = randomBytes(50_000);
    for (const size of [49_999, 50_001]) {
      const desc = { ...descOf(data), size };
      const err = await caught(repo.pushBlob(desc, chunksOf(data, 7000)));
      expect(isInvalidArgument(err), String(err)).toBe(true);
      expect(String(err)).toMatch(/source has/);
      expect(await repo.statBlob(desc.digest)).toBeUndefined();
    }
  });

  it("uploads an empty blob", async () => {
    const repo = client().repository(`${registry.host}/push/empty`);
    const empty = new Uint8Array(0);
    expect(await repo.pushBlob(descOf(empty), chunksOf(empty))).toBe("uploaded");
    expect(await collect(repo.fetchBlob(descOf(empty)))).toHaveLength(0);
  });

  it("skips a blob the repository has without opening the source", async () => {
    const repo = client().repository(`${registry.host}/push/skip`);
    const data = randomBytes(500);
    await repo.pushBlob(descOf(data), chunksOf(data));
    let opened = false;
    const result = await repo.pushBlob(descOf(data), () => {
      opened = true;
      return chunksOf(data);
    });
    expect(result).toBe("exists");
    expect(opened).toBe(false);
  });

  it("mounts a blob from another repository instead of uploading", async () => {
    const proxy = await startHttpProxy(registry.port);
    try {
      const c = client();
      const data = randomBytes(300_000);
      await c.repository(`${registry.host}/mount/source`).pushBlob(descOf(data), chunksOf(data));
      const target = c.repository(`127.0.0.1:${proxy.port}/mount/target`);
      const result = await target.pushBlob(
        descOf(data),
        () => {
          throw new Error("source must not be read");
        },
        { mountFrom: "mount/source" },
      );
      expect(result).toBe("mounted");
      const post = proxy.requests.find((r) => r.method === "POST");
      expect(post?.url).toContain(`mount=${encodeURIComponent(descOf(data).digest)}`);
      expect(post?.url).toContain("from=mount%2Fsource");
      expect(await collect(target.fetchBlob(descOf(data)))).toEqual(data);
    } finally {
      await proxy.stop();
    }
  });

  it("uploads when the mount source lacks the blob", async () => {
    const repo = client().repository(`${registry.host}/mount/fallback`);
    const data = randomBytes(2000);
    expect(await repo.pushBlob(descOf(data), chunksOf(data), { mountFrom: "mount/nowhere" })).toBe(
      "uploaded",
    );
  });

  it("rejects a source whose size differs from the descriptor", async () => {
    const repo = client({ chunkSize: 1024 }).repository(`${registry.host}/push/size`);
    const data = randomBytes(5000);
    for (const wrong of [4999, 5001]) {
      for (const size of [wrong, 100]) {
        // 100 bytes descriptor = monolithic path; 5000-ish = chunked path.
        const desc = { ...descOf(data), size };
        const err = await caught(repo.pushBlob(desc, chunksOf(data, 700)));
        expect(isInvalidArgument(err)).toBe(true);
        expect(String(err)).toMatch(/source has/);
      }
    }
  });

  it("maps the registry's DIGEST_INVALID to InvalidArgument", async () => {
    const repo = client().repository(`${registry.host}/push/digest`);
    const data = randomBytes(100);
    const wrong = { ...descOf(randomBytes(100)), size: 100 };
    const err = await caught(repo.pushBlob(wrong, chunksOf(data)));
    expect(isInvalidArgument(err)).toBe(true);
    expect(String(err)).toMatch(
      /PUT http:\/\/127\.0\.0\.1:\d+\/v2\/push\/digest\/blobs\/uploads\/.*400.*DIGEST_INVALID/,
    );
  });

  it("rejects a malformed digest before any request", async () => {
    const repo = client().repository(`${registry.host}/push/bad`);
    const err = await caught(
      repo.pushBlob({ digest: "sha256:xyz", size: 1 }, chunksOf(new Uint8Array(1))),
    );
    expect(isInvalidArgument(err)).toBe(true);
  });
});

describe("Repository.fetchBlob", () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);
  const desc = descOf(data);
  beforeAll(async () => {
    await client().repository(`${registry.host}/fetch/blob`).pushBlob(desc, chunksOf(data));
  });

  it("reads a byte range", async () => {
    const repo = client().repository(`${registry.host}/fetch/blob`);
    const part = await collect(repo.fetchBlob(desc, { offset: 1000, length: 5000 }));
    expect(part).toEqual(data.subarray(1000, 6000));
    const tail = await collect(repo.fetchBlob(desc, { offset: data.length - 10 }));
    expect(tail).toEqual(data.subarray(data.length - 10));
  });

  it("rejects a range outside the blob", () => {
    const repo = client().repository(`${registry.host}/fetch/blob`);
    expect(() => repo.fetchBlob(desc, { offset: data.length + 1 })).toThrow(/outside size/);
    expect(() => repo.fetchBlob(desc, { offset: 10, length: data.length })).toThrow(/outside size/);
  });

  it("fails with NotFound naming the URL and the registry's error", async () => {
    const repo = client().repository(`${registry.host}/fetch/blob`);
    const missing = descOf(randomBytes(10));
    const err = await caught(collect(repo.fetchBlob(missing)));
    expect(isNotFound(err)).toBe(true);
    expect(String(err)).toContain(
      `GET http://${registry.host}/v2/fetch/blob/blobs/${missing.digest}: 404`,
    );
    expect(String(err)).toContain("BLOB_UNKNOWN");
  });

  it("resumes with Range requests after dropped connections", async () => {
    const proxy = await startCuttingProxy(registry.port, { cutAfter: 700_000, cuts: 2 });
    try {
      const repo = client().repository(`127.0.0.1:${proxy.port}/fetch/blob`);
      expect(await collect(repo.fetchBlob(desc))).toEqual(data);
      expect(proxy.cutsDone()).toBe(2);
    } finally {
      await proxy.stop();
    }
  });

  it("sends a Range header from the byte where the connection dropped", async () => {
    const cutter = await startCuttingProxy(registry.port, { cutAfter: 500_000, cuts: 1 });
    const recorder = await startHttpProxy(cutter.port);
    try {
      const repo = client().repository(`127.0.0.1:${recorder.port}/fetch/blob`);
      expect(await collect(repo.fetchBlob(desc))).toEqual(data);
      const gets = recorder.requests.filter((r) => r.method === "GET");
      expect(gets).toHaveLength(2);
      expect(gets[0]?.headers.range).toBeUndefined();
      expect(gets[1]?.headers.range).toMatch(new RegExp(`^bytes=\\d+-${data.length - 1}$`));
      const resumedAt = Number(/bytes=(\d+)-/.exec(gets[1]?.headers.range ?? "")?.[1]);
      expect(resumedAt).toBeGreaterThan(0);
      expect(resumedAt).toBeLessThan(500_000);
    } finally {
      await recorder.stop();
      await cutter.stop();
    }
  });

  it("gives up with Unavailable when resuming fails more often than retries allow", async () => {
    const proxy = await startCuttingProxy(registry.port, {
      cutAfter: (i) => (i === 0 ? 200_000 : 50),
      cuts: 100,
    });
    try {
      const repo = new RegistryClient({
        retry: { retries: 2, minDelay: 1, maxDelay: 5 },
      }).repository(`127.0.0.1:${proxy.port}/fetch/blob`);
      const err = await caught(collect(repo.fetchBlob(desc)));
      expect(isUnavailable(err)).toBe(true);
      expect(String(err)).toMatch(
        /GET http:\/\/127\.0\.0\.1:\d+\/v2\/fetch\/blob\/blobs\/sha256:[a-f0-9]+: /,
      );
    } finally {
      await proxy.stop();
    }
  });

  it("detects a flipped byte with DataLoss", async () => {
    const proxy = await startHttpProxy(registry.port, {
      body(req, chunk, offset) {
        if (req.method !== "GET" || !req.url?.includes("/blobs/")) return chunk;
        const at = 1_000_000 - offset;
        if (at >= 0 && at < chunk.length) chunk[at] = (chunk[at] ?? 0) ^ 0xff;
        return chunk;
      },
    });
    try {
      const repo = client().repository(`127.0.0.1:${proxy.port}/fetch/blob`);
      const err = await caught(collect(repo.fetchBlob(desc)));
      expect(isDataLoss(err)).toBe(true);
      expect(String(err)).toContain(`GET blob 127.0.0.1:${proxy.port}/fetch/blob@${desc.digest}`);
      expect(String(err)).toContain("digest mismatch");
    } finally {
      await proxy.stop();
    }
  });

  it("detects a blob longer than its descriptor", async () => {
    const repo = client().repository(`${registry.host}/fetch/blob`);
    const err = await caught(collect(repo.fetchBlob({ digest: desc.digest, size: 100 })));
    expect(isDataLoss(err)).toBe(true);
  });
});

describe("Repository.pushManifest", () => {
  it("pushes a manifest by tag that resolves by tag and by digest", async () => {
    const c = client();
    const repo = c.repository(`${registry.host}/app/one`);
    const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
    const layer = randomBytes(4000);
    await repo.pushBlob(descOf(config), chunksOf(config));
    await repo.pushBlob(descOf(layer), chunksOf(layer));
    const manifest = manifestFor(config, [layer]);
    const mdesc = descOf(manifest, "application/vnd.oci.image.manifest.v1+json");
    await repo.pushManifest(mdesc, manifest, { tag: "v1" });

    const byTag = await c.resolve(`${registry.host}/app/one:v1`);
    expect(byTag).toEqual({ name: `${registry.host}/app/one:v1`, descriptor: mdesc });
    const byDigest = await c.resolve(`${registry.host}/app/one@${mdesc.digest}`);
    expect(byDigest.descriptor).toEqual(mdesc);
    expect(Buffer.from(await repo.fetchManifest(mdesc))).toEqual(manifest);
    expect(await repo.listTags()).toEqual(["v1"]);
  });

  it("rejects bytes that do not match the descriptor", async () => {
    const repo = client().repository(`${registry.host}/app/bad`);
    const manifest = Buffer.from("{}");
    const err = await caught(
      repo.pushManifest(
        { ...descOf(manifest), mediaType: "application/vnd.oci.image.manifest.v1+json", size: 3 },
        manifest,
      ),
    );
    expect(isInvalidArgument(err)).toBe(true);
  });

  it("maps MANIFEST_BLOB_UNKNOWN for a manifest naming missing blobs", async () => {
    const repo = client().repository(`${registry.host}/app/missing`);
    const manifest = manifestFor(randomBytes(10), [randomBytes(10)]);
    const err = await caught(
      repo.pushManifest(descOf(manifest, "application/vnd.oci.image.manifest.v1+json"), manifest, {
        tag: "x",
      }),
    );
    expect(isInvalidArgument(err)).toBe(true);
    expect(String(err)).toContain("MANIFEST_BLOB_UNKNOWN");
  });
});

describe("Repository.resolve", () => {
  const config = Buffer.from('{"os":"linux"}');
  const manifest = manifestFor(config, []);
  const mdesc = descOf(manifest, "application/vnd.oci.image.manifest.v1+json");
  beforeAll(async () => {
    const repo = client().repository(`${registry.host}/resolve/app`);
    await repo.pushBlob(descOf(config), chunksOf(config));
    await repo.pushManifest(mdesc, manifest, { tag: "latest" });
  });

  it("falls back to GET when HEAD has no digest header, and verifies the body", async () => {
    const proxy = await startHttpProxy(registry.port, {
      headers(req, _status, headers) {
        if (req.method === "HEAD") delete headers["docker-content-digest"];
      },
    });
    try {
      const repo = client().repository(`127.0.0.1:${proxy.port}/resolve/app`);
      expect(await repo.resolve("latest")).toEqual(mdesc);
      expect(proxy.requests.map((r) => r.method)).toEqual(["HEAD", "GET"]);
      expect(proxy.requests[0]?.headers.accept).toContain(
        "application/vnd.oci.image.index.v1+json",
      );
      expect(proxy.requests[0]?.headers.accept).toContain(
        "application/vnd.docker.distribution.manifest.list.v2+json",
      );
    } finally {
      await proxy.stop();
    }
  });

  it("detects a manifest body that differs from Docker-Content-Digest", async () => {
    const proxy = await startHttpProxy(registry.port, {
      headers(req, _status, headers) {
        if (req.method === "HEAD") delete headers["docker-content-digest"];
      },
      body(_req, chunk, offset) {
        if (offset === 0 && chunk.length > 5) chunk[5] = 0x20;
        return chunk;
      },
    });
    try {
      const repo = client().repository(`127.0.0.1:${proxy.port}/resolve/app`);
      const err = await caught(repo.resolve("latest"));
      expect(isDataLoss(err)).toBe(true);
      expect(String(err)).toContain(`Docker-Content-Digest says ${mdesc.digest}`);
    } finally {
      await proxy.stop();
    }
  });

  it("fails with NotFound on an unknown tag", async () => {
    const err = await caught(client().resolve(`${registry.host}/resolve/app:nope`));
    expect(isNotFound(err)).toBe(true);
    expect(String(err)).toContain(
      `HEAD http://${registry.host}/v2/resolve/app/manifests/nope: 404`,
    );
  });

  it("rejects malformed references and tags", async () => {
    expect(isInvalidArgument(await caught(client().resolve(`${registry.host}/Bad/Name`)))).toBe(
      true,
    );
    const repo = client().repository(`${registry.host}/resolve/app`);
    expect(isInvalidArgument(await caught(repo.resolve("bad tag")))).toBe(true);
    expect(isInvalidArgument(await caught(repo.resolve("sha256:1234")))).toBe(true);
  });

  it("refuses a manifest larger than maxBytes", async () => {
    const repo = client().repository(`${registry.host}/resolve/app`);
    const err = await caught(repo.fetchManifest(mdesc, { maxBytes: 10 }));
    expect(isResourceExhausted(err)).toBe(true);
  });
});

describe("Repository.listTags", () => {
  // The reference registry 2.8 answers every tag in one page, unsorted, so
  // the Link-following path is not exercised here.
  it("lists every tag of a repository", async () => {
    const repo = client().repository(`${registry.host}/tags/app`);
    const config = Buffer.from("{}");
    await repo.pushBlob(descOf(config), chunksOf(config));
    const manifest = manifestFor(config, []);
    const mdesc = descOf(manifest, "application/vnd.oci.image.manifest.v1+json");
    for (const tag of ["a", "b", "c"]) await repo.pushManifest(mdesc, manifest, { tag });
    expect((await repo.listTags({ pageSize: 100 })).sort()).toEqual(["a", "b", "c"]);
  });

  it("fails with NotFound for an unknown repository", async () => {
    const err = await caught(client().repository(`${registry.host}/tags/none`).listTags());
    expect(isNotFound(err)).toBe(true);
    expect(String(err)).toContain("NAME_UNKNOWN");
  });
});
