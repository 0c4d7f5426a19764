// `strata image export --to registry:` and `strata image import registry:`
// against Debian's reference registry (`docker-registry`) on 127.0.0.1, with
// skopeo and umoci on the other side, and a request-counting proxy in front
// so the tests see what went over the wire: a second export uploads no blob;
// a lazy import fetches no layer until its contents are used. Then the same
// with the registry behind htpasswd basic auth. Needs root (umoci unpack,
// owners in the trees).
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireProgram } from "./_daemons.ts";
import {
  buildBaseTree,
  buildChildTree,
  committedTree,
  layoutManifest,
  layoutManifestDesc,
  refTree,
  strata,
  strataOk,
} from "./_images.ts";
import { mustRun, requireRoot } from "./_layer_fixture.ts";
import {
  type CountingProxy,
  type Registry,
  startCountingProxy,
  startRegistry,
} from "./_registry.ts";
import { compareTrees, snapshotTree, type TreeEntry } from "./_tree.ts";

let work: string;
let n = 0;

async function fresh(name: string): Promise<string> {
  const dir = join(work, `${name}-${++n}`);
  await mkdir(dir);
  return dir;
}

async function unpack(layout: string, tag: string): Promise<string> {
  const bundle = join(await fresh("bundle"), "b");
  await mustRun("umoci", ["unpack", "--image", `${layout}:${tag}`, bundle]);
  return join(bundle, "rootfs");
}

beforeAll(async () => {
  requireRoot();
  for (const p of ["skopeo", "umoci", "setfattr", "tar", "htpasswd", "docker-registry"]) {
    await requireProgram(p);
  }
  work = await mkdtemp(join(tmpdir(), "e2e-images-registry-"));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe("against the reference registry (no auth), through a counting proxy", () => {
  let registry: Registry;
  let proxy: CountingProxy;
  let root: string;
  let childTree: TreeEntry[];
  let childRef: string;

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startCountingProxy(registry.port);
    root = join(work, "root");
    const base = join(work, "base");
    const child = join(work, "child");
    await mkdir(base);
    await buildBaseTree(base);
    await buildChildTree(base, child);
    childTree = committedTree(child);
    const baseRef = await strataOk(root, ["commit", base]);
    childRef = await strataOk(root, ["commit", child, "--parent", baseRef]);
  }, 120_000);

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  describe("export", () => {
    let printed: string;

    beforeAll(async () => {
      proxy.clear();
      printed = await strataOk(root, [
        "image",
        "export",
        childRef,
        "--to",
        `registry:${proxy.host}/e2e/app:v1`,
      ]);
    }, 120_000);

    it("pushes the layers, the config and the manifest, and prints the manifest digest", () => {
      expect(printed).toMatch(/^sha256:[0-9a-f]{64}$/);
      // Two layers and a config: at least one upload each, each ending in a PUT with its digest.
      const finished = proxy.uploads().filter((r) => r.method === "PUT" && r.status === 201);
      expect(finished.length).toBe(3);
      const manifestPut = proxy.requests.filter(
        (r) => r.method === "PUT" && r.url.startsWith("/v2/e2e/app/manifests/"),
      );
      expect(manifestPut.map((r) => r.status)).toContain(201);
    });

    it("skopeo inspect sees the digest Strata printed", async () => {
      const info = JSON.parse(
        await mustRun("skopeo", [
          "inspect",
          "--tls-verify=false",
          `docker://${registry.host}/e2e/app:v1`,
        ]),
      ) as { Digest: string; Layers: string[] };
      expect(info.Digest).toBe(printed);
      expect(info.Layers).toHaveLength(2);
    });

    it("skopeo copy to an OCI layout gets the same manifest and layer digests, and umoci unpacks the tree", async () => {
      const layout = join(await fresh("pulled"), "layout");
      await mustRun("skopeo", [
        "copy",
        "--src-tls-verify=false",
        `docker://${registry.host}/e2e/app:v1`,
        `oci:${layout}:v1`,
      ]);
      expect((await layoutManifestDesc(layout, "v1")).digest).toBe(printed);
      const info = JSON.parse(
        await mustRun("skopeo", [
          "inspect",
          "--tls-verify=false",
          `docker://${registry.host}/e2e/app:v1`,
        ]),
      ) as { Layers: string[] };
      expect((await layoutManifest(layout, "v1")).layers.map((l) => l.digest)).toEqual(info.Layers);
      const rootfs = await unpack(layout, "v1");
      expect(compareTrees(childTree, snapshotTree(rootfs))).toEqual([]);
    }, 60_000);

    it("a second export of the same ref uploads no blob", async () => {
      proxy.clear();
      const again = await strataOk(root, [
        "image",
        "export",
        childRef,
        "--to",
        `registry:${proxy.host}/e2e/app:v1`,
      ]);
      expect(again).toBe(printed);
      expect(proxy.uploads()).toEqual([]);
      expect(proxy.requests.length).toBeGreaterThan(0); // it did talk to the registry
    }, 60_000);

    it("speaks plain HTTP to a host that is not loopback-by-name only with --insecure-registry", async () => {
      // 127.0.0.2 is this machine too, but not a name the client trusts with plain HTTP.
      const other = await startCountingProxy(registry.port, "127.0.0.2");
      try {
        const target = `registry:${other.host}/e2e/insecure:v1`;
        const refused = await strata(root, ["image", "export", childRef, "--to", target]);
        expect(refused.code).not.toBe(0);
        expect(refused.stderr).toContain(other.host);
        expect(other.uploads()).toEqual([]);
        const ok = await strataOk(root, [
          "image",
          "export",
          childRef,
          "--to",
          target,
          "--insecure-registry",
          other.host,
        ]);
        expect(ok).toBe(printed);
      } finally {
        await other.stop();
      }
    }, 60_000);

    it("fails clearly when the registry is not there", async () => {
      const r = await strata(root, [
        "image",
        "export",
        childRef,
        "--to",
        "registry:127.0.0.1:1/e2e/app:v1",
      ]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/127\.0\.0\.1:1/);
    }, 60_000);
  });

  describe("lazy import of an image skopeo pushed", () => {
    let source: string;
    let sourceTree: TreeEntry[];
    let layers: string[];
    let root2: string;
    let ref: string;

    beforeAll(async () => {
      // An image made by umoci from its own tree, pushed by skopeo.
      const tree = join(await fresh("umoci-tree"), "tree");
      await mkdir(tree);
      await buildBaseTree(tree, "umoci");
      sourceTree = snapshotTree(tree);
      source = join(await fresh("umoci-layout"), "layout");
      await mustRun("umoci", ["init", "--layout", source]);
      await mustRun("umoci", ["new", "--image", `${source}:v1`]);
      await mustRun("umoci", ["insert", "--image", `${source}:v1`, tree, "/"]);
      await mustRun("skopeo", [
        "copy",
        "--dest-tls-verify=false",
        `oci:${source}:v1`,
        `docker://${registry.host}/e2e/pushed:v1`,
      ]);
      layers = (await layoutManifest(source, "v1")).layers.map((l) => l.digest);
      root2 = join(work, "root2");
      proxy.clear();
      ref = await strataOk(root2, ["image", "import", `registry:${proxy.host}/e2e/pushed:v1`]);
    }, 120_000);

    it("resolves the manifest and config but fetches no layer", () => {
      expect(ref).toMatch(/^\S+$/);
      expect(layers.length).toBeGreaterThan(0);
      expect(proxy.requests.some((r) => r.url.includes("/manifests/"))).toBe(true);
      expect(proxy.blobGets(layers)).toEqual([]);
    });

    it("listing, inspecting and du of the lazy ref fetch no layer either", async () => {
      const ls = await strataOk(root2, ["ref", "ls"]);
      expect(ls).not.toBe("");
      expect((await strata(root2, ["ref", "ls"])).stdout).toContain(ref);
      await strataOk(root2, ["ref", "info", ref]);
      await strataOk(root2, ["du", "--verbose"]);
      expect(proxy.blobGets(layers)).toEqual([]);
    });

    it("fetches each layer once when its contents are used, then unpacks to the source tree", async () => {
      const zstd = join(await fresh("lazy-zstd"), "layout");
      await strataOk(root2, [
        "image",
        "export",
        ref,
        "--to",
        `oci:${zstd}:v1`,
        "--compression",
        "zstd",
        "--force-compression",
      ]);
      const gets = proxy.blobGets(layers).filter((r) => r.status === 200 || r.status === 206);
      expect(new Set(gets.map((r) => r.url)).size).toBe(layers.length);
      expect(gets.length).toBe(layers.length);
      // The original gzip blobs are now local: an export with them fetches nothing more.
      const gzip = join(await fresh("lazy-gzip"), "layout");
      await strataOk(root2, ["image", "export", ref, "--to", `oci:${gzip}:v1`]);
      expect(proxy.blobGets(layers).length).toBe(gets.length);
      expect((await layoutManifest(gzip, "v1")).layers.map((l) => l.digest)).toEqual(layers);
      const rootfs = await unpack(gzip, "v1");
      expect(compareTrees(sourceTree, snapshotTree(rootfs))).toEqual([]);
      const converted = join(await fresh("lazy-zstd-gzip"), "layout");
      await mustRun("skopeo", [
        "copy",
        "--dest-compress",
        "--dest-compress-format",
        "gzip",
        `oci:${zstd}:v1`,
        `oci:${converted}:v1`,
      ]);
      expect(compareTrees(sourceTree, snapshotTree(await unpack(converted, "v1")))).toEqual([]);
    }, 120_000);

    it("imports with --no-lazy into a fresh root, unpacked to the source tree", async () => {
      const other = join(await fresh("eager"), "root");
      proxy.clear();
      const top = await strataOk(other, [
        "image",
        "import",
        `registry:${proxy.host}/e2e/pushed:v1`,
        "--no-lazy",
      ]);
      expect(proxy.blobGets(layers).length).toBe(layers.length);
      expect(compareTrees(sourceTree, await refTree(other, top))).toEqual([]);
    }, 60_000);

    it("fails clearly for a tag the registry does not have", async () => {
      const r = await strata(root2, [
        "image",
        "import",
        `registry:${registry.host}/e2e/pushed:nope`,
      ]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/nope/);
      expect(r.stderr).toMatch(/not.?found|unknown/i);
    });
  });
});

describe("against the reference registry with htpasswd basic auth", () => {
  const alice = { username: "alice", password: "correct horse" };
  let registry: Registry;
  let root: string;
  let ref: string;
  let dockerConfig: string;

  beforeAll(async () => {
    registry = await startRegistry({ users: [alice] });
    root = join(work, "root-auth");
    const tree = join(await fresh("auth-tree"), "tree");
    await mkdir(tree);
    await buildBaseTree(tree, "auth");
    ref = await strataOk(root, ["commit", tree]);
    dockerConfig = await fresh("docker-config");
    const auth = Buffer.from(`${alice.username}:${alice.password}`).toString("base64");
    await writeFile(
      join(dockerConfig, "config.json"),
      JSON.stringify({ auths: { [registry.host]: { auth } } }),
    );
  }, 120_000);

  afterAll(async () => {
    await registry?.stop();
  });

  it("exports with --username and --password-stdin, and skopeo reads it with the same credentials", async () => {
    const printed = await strataOk(
      root,
      [
        "image",
        "export",
        ref,
        "--to",
        `registry:${registry.host}/e2e/private:v1`,
        "--username",
        alice.username,
        "--password-stdin",
      ],
      { input: `${alice.password}\n` },
    );
    const info = JSON.parse(
      await mustRun("skopeo", [
        "inspect",
        "--tls-verify=false",
        "--creds",
        `${alice.username}:${alice.password}`,
        `docker://${registry.host}/e2e/private:v1`,
      ]),
    ) as { Digest: string };
    expect(info.Digest).toBe(printed);
  }, 60_000);

  it("imports with credentials from $DOCKER_CONFIG/config.json", async () => {
    const other = join(work, "root-auth-import");
    const top = await strataOk(
      other,
      ["image", "import", `registry:${registry.host}/e2e/private:v1`],
      {
        env: { DOCKER_CONFIG: dockerConfig },
      },
    );
    expect(top).toMatch(/^\S+$/);
    expect((await strata(other, ["ref", "ls"])).stdout).toContain(top);
  }, 60_000);

  it("fails clearly with a wrong password, and pushes nothing", async () => {
    const r = await strata(
      root,
      [
        "image",
        "export",
        ref,
        "--to",
        `registry:${registry.host}/e2e/wrong:v1`,
        "--username",
        alice.username,
        "--password-stdin",
      ],
      { input: "wrong password\n" },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unauthenticated|401|unauthorized/i);
    expect(r.stderr).not.toContain("wrong password");
    const inspect = await mustRun("sh", [
      "-c",
      'skopeo inspect --tls-verify=false --creds "$1" "docker://$2/e2e/wrong:v1" 2>&1 || true',
      "sh",
      `${alice.username}:${alice.password}`,
      registry.host,
    ]);
    expect(inspect).toMatch(/manifest unknown|not found/i);
  }, 60_000);

  it("fails clearly without credentials, for import too", async () => {
    const r = await strata(join(work, "root-auth-none"), [
      "image",
      "import",
      `registry:${registry.host}/e2e/private:v1`,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unauthenticated|401|unauthorized/i);
    const bad = await strata(
      join(work, "root-auth-bad"),
      ["image", "import", `registry:${registry.host}/e2e/private:v1`],
      {
        env: { DOCKER_CONFIG: await wrongDockerConfig(registry.host) },
      },
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unauthenticated|401|unauthorized/i);
  }, 60_000);

  async function wrongDockerConfig(host: string): Promise<string> {
    const dir = await fresh("docker-config-wrong");
    const auth = Buffer.from(`${alice.username}:nope`).toString("base64");
    await writeFile(join(dir, "config.json"), JSON.stringify({ auths: { [host]: { auth } } }));
    return dir;
  }
});
