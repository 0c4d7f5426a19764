// Interop with skopeo (a real OCI client): what we push, skopeo reads and
// copies; what skopeo pushes, we resolve and pull.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunksOf, collect, descOf, startRegistry, type TestRegistry } from "./_test_registry.ts";
import { RegistryClient } from "./registry_client.ts";

const run = promisify(execFile);
const SKOPEO = process.env.STRATA_TEST_SKOPEO ?? "skopeo";

let registry: TestRegistry;
let work = "";
beforeAll(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), "strata-skopeo-"));
});
afterAll(async () => {
  await registry?.stop();
  if (work !== "") await rm(work, { recursive: true, force: true });
});

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run(SKOPEO, ["--insecure-policy", ...args], { maxBuffer: 16 << 20 });
  return stdout;
}

describe("RegistryClient with skopeo", () => {
  it("pushes an image skopeo inspects and copies, and pulls what skopeo pushed", async () => {
    // A tar archive of one file, uncompressed, as an OCI layer.
    const header = Buffer.alloc(512);
    header.write("hello.txt", 0);
    header.write("0000644\0", 100);
    header.write("0000000\0", 108);
    header.write("0000000\0", 116);
    const body = randomBytes(700);
    header.write(`${body.length.toString(8).padStart(11, "0")}\0`, 124);
    header.write("00000000000\0", 136);
    header.write("        ", 148);
    header.write("0", 156);
    header.write("ustar\u000000", 257);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    const layer = Buffer.concat([
      header,
      body,
      Buffer.alloc(512 - (body.length % 512)),
      Buffer.alloc(1024),
    ]);
    const layerDesc = descOf(layer, "application/vnd.oci.image.layer.v1.tar");
    const config = Buffer.from(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        config: {},
        rootfs: { type: "layers", diff_ids: [layerDesc.digest] },
      }),
    );
    const configDesc = descOf(config, "application/vnd.oci.image.config.v1+json");
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: configDesc,
        layers: [layerDesc],
      }),
    );
    const manifestDesc = descOf(manifest, "application/vnd.oci.image.manifest.v1+json");

    const client = new RegistryClient();
    const ours = client.repository(`${registry.host}/interop/ours`);
    await ours.pushBlob(configDesc, chunksOf(config));
    await ours.pushBlob(layerDesc, chunksOf(layer));
    await ours.pushManifest(manifestDesc, manifest, { tag: "v1" });

    const inspected = JSON.parse(
      await skopeo("inspect", "--tls-verify=false", `docker://${registry.host}/interop/ours:v1`),
    ) as { Digest: string; Layers: string[]; Os: string; Architecture: string };
    expect(inspected.Digest).toBe(manifestDesc.digest);
    expect(inspected.Layers).toEqual([layerDesc.digest]);
    expect([inspected.Os, inspected.Architecture]).toEqual(["linux", "amd64"]);

    const layout = join(work, "layout");
    await skopeo(
      "copy",
      "--src-tls-verify=false",
      `docker://${registry.host}/interop/ours:v1`,
      `oci:${layout}:v1`,
    );
    const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8")) as {
      manifests: Array<{ digest: string }>;
    };
    const layoutManifest = await readFile(
      join(layout, "blobs", ...(index.manifests[0]?.digest ?? "").split(":")),
      "utf8",
    );
    // skopeo 1.9 gzips uncompressed layers on copy; the config stays ours.
    const parsedLayout = JSON.parse(layoutManifest) as {
      config: { digest: string };
      layers: Array<{ digest: string }>;
    };
    expect(parsedLayout.config.digest).toBe(configDesc.digest);
    const layoutLayer = await readFile(
      join(layout, "blobs", ...(parsedLayout.layers[0]?.digest ?? "").split(":")),
    );
    expect(gunzipSync(layoutLayer).equals(layer)).toBe(true);

    await skopeo(
      "copy",
      "--dest-tls-verify=false",
      `oci:${layout}:v1`,
      `docker://${registry.host}/interop/theirs:v2`,
    );
    // skopeo compresses uncompressed layers for a registry destination, so
    // its manifest differs from ours: compare with what skopeo says it pushed.
    const theirsInspected = JSON.parse(
      await skopeo("inspect", "--tls-verify=false", `docker://${registry.host}/interop/theirs:v2`),
    ) as { Digest: string };
    const resolved = await client.resolve(`${registry.host}/interop/theirs:v2`);
    expect(resolved.descriptor.digest).toBe(theirsInspected.Digest);
    const theirs = client.repository(resolved.name);
    const pulled = JSON.parse(
      Buffer.from(await theirs.fetchManifest(resolved.descriptor)).toString(),
    ) as {
      layers: Array<{ digest: string; size: number }>;
      config: { digest: string; size: number };
    };
    const pulledLayer = await collect(theirs.fetchBlob(pulled.layers[0] as typeof layerDesc));
    expect(pulledLayer.equals(layer) || gunzipSync(pulledLayer).equals(layer)).toBe(true);
    expect(await collect(theirs.fetchBlob(pulled.config as typeof configDesc))).toEqual(config);
  });

  it("pulls an image skopeo converted to Docker schema 2", async () => {
    await skopeo(
      "copy",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      "--format=v2s2",
      `docker://${registry.host}/interop/ours:v1`,
      `docker://${registry.host}/interop/docker:v1`,
    );
    const client = new RegistryClient();
    const { descriptor } = await client.resolve(`${registry.host}/interop/docker:v1`);
    expect(descriptor.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    const repo = client.repository(`${registry.host}/interop/docker`);
    const doc = JSON.parse(Buffer.from(await repo.fetchManifest(descriptor)).toString()) as {
      layers: Array<{ digest: `sha256:${string}`; size: number }>;
    };
    const first = doc.layers[0];
    expect(first).toBeDefined();
    if (first !== undefined) expect((await collect(repo.fetchBlob(first))).length).toBe(first.size);
  });
});
