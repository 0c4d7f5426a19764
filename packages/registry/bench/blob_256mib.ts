// Push and pull of one 256 MiB blob with @strata/registry and with skopeo,
// against the reference registry on loopback. Run:
//   node packages/registry/bench/blob_256mib.ts
// The blob is gzip (level 1) of random bytes, so skopeo copies it as-is
// instead of compressing it; both tools move the same bytes.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { createGzip } from "node:zlib";
import { startRegistry } from "../src/_test_registry.ts";
import { RegistryClient } from "../src/mod.ts";

const run = promisify(execFile);
const SIZE = 256 * 1024 * 1024;
const work = await mkdtemp(join(tmpdir(), "strata-bench-"));
const layerPath = join(work, "layer.tar.gz");

async function* random(total: number): AsyncGenerator<Buffer> {
  for (let left = total; left > 0; left -= 1 << 20) yield randomBytes(Math.min(left, 1 << 20));
}
await pipeline(Readable.from(random(SIZE)), createGzip({ level: 1 }), createWriteStream(layerPath));
const hash = createHash("sha256");
for await (const c of createReadStream(layerPath)) hash.update(c as Buffer);
const layer = {
  mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
  digest: `sha256:${hash.digest("hex")}` as const,
  size: (await stat(layerPath)).size,
};

// An OCI layout holding one image with that layer, for skopeo.
const layout = join(work, "layout");
await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
const put = async (bytes: Buffer): Promise<string> => {
  const hex = createHash("sha256").update(bytes).digest("hex");
  await writeFile(join(layout, "blobs", "sha256", hex), bytes);
  return `sha256:${hex}`;
};
await pipeline(
  createReadStream(layerPath),
  createWriteStream(join(layout, "blobs", "sha256", layer.digest.slice(7))),
);
const config = Buffer.from(
  JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: [layer.digest] },
  }),
);
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: await put(config),
      size: config.length,
    },
    layers: [layer],
  }),
);
const manifestDigest = await put(manifest);
await writeFile(join(layout, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
await writeFile(
  join(layout, "index.json"),
  JSON.stringify({
    schemaVersion: 2,
    manifests: [
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: manifestDigest,
        size: manifest.length,
        annotations: { "org.opencontainers.image.ref.name": "big" },
      },
    ],
  }),
);

const time = async (label: string, fn: () => Promise<unknown>): Promise<number> => {
  const t = performance.now();
  await fn();
  const s = (performance.now() - t) / 1000;
  console.log(
    `${label.padEnd(34)} ${s.toFixed(2)} s  ${(layer.size / 1048576 / s).toFixed(0)} MiB/s`,
  );
  return s;
};

const rounds = Number(process.env.ROUNDS ?? 2);
for (let round = 1; round <= rounds; round++) {
  console.log(`round ${round} (blob ${layer.size} bytes)`);
  for (const chunkSize of [16 << 20, 64 << 20]) {
    const registry = await startRegistry();
    try {
      const repo = new RegistryClient({ chunkSize }).repository(`${registry.host}/bench/strata`);
      await time(`strata push (PATCH ${chunkSize >> 20} MiB chunks)`, () =>
        repo.pushBlob(layer, () => createReadStream(layerPath, { highWaterMark: 1 << 20 })),
      );
      const out = join(work, "pulled");
      await time("strata pull (verified, to file)", () =>
        pipeline(Readable.from(repo.fetchBlob(layer)), createWriteStream(out)),
      );
      await rm(out);
    } finally {
      await registry.stop();
    }
  }
  const registry = await startRegistry();
  try {
    const dest = `docker://${registry.host}/bench/skopeo:big`;
    await time("skopeo copy oci: -> docker://", () =>
      run("skopeo", [
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        `oci:${layout}:big`,
        dest,
      ]),
    );
    const back = join(work, "back");
    await time("skopeo copy docker:// -> oci:", () =>
      run("skopeo", [
        "--insecure-policy",
        "copy",
        "--src-tls-verify=false",
        dest,
        `oci:${back}:big`,
      ]),
    );
    await rm(back, { recursive: true });
  } finally {
    await registry.stop();
  }
}
await rm(work, { recursive: true, force: true });
