// `strata image export` and `strata image import` against Debian's reference
// registry configured for token auth (`auth.token`): the registry answers
// 401 with a Bearer challenge naming the token server the test runs (from
// @strata/registry/testing), which checks Basic credentials and signs JWTs
// the registry verifies. Credentials come from a docker `config.json`, as
// the CLI takes them. A counting proxy in front of the registry and the
// token server's own log show what went over the wire: a token per scope,
// not per request; no layer fetched by a lazy import until its contents are
// used. Wrong credentials fail with "unauthenticated" and store nothing.
// Needs root (umoci unpack, owners in the trees).
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
  strata,
  strataOk,
} from "./_images.ts";
import { mustRun, requireRoot } from "./_layer_fixture.ts";
import {
  type CountingProxy,
  type Credentials,
  startCountingProxy,
  startTokenRegistry,
  type TokenRegistry,
} from "./_registry.ts";
import { compareTrees, snapshotTree, type TreeEntry } from "./_tree.ts";

const alice: Credentials = { username: "alice", password: "token wonderland" };

let work: string;
let registry: TokenRegistry;
let proxy: CountingProxy;
let root: string;
let childRef: string;
let childTree: TreeEntry[];
let n = 0;

async function fresh(name: string): Promise<string> {
  const dir = join(work, `${name}-${++n}`);
  await mkdir(dir);
  return dir;
}

/** A `$DOCKER_CONFIG` directory whose config.json has `user`'s auth for `host`. */
async function dockerConfig(host: string, user: Credentials): Promise<string> {
  const dir = await fresh("docker-config");
  const auth = Buffer.from(`${user.username}:${user.password}`).toString("base64");
  await writeFile(join(dir, "config.json"), JSON.stringify({ auths: { [host]: { auth } } }));
  return dir;
}

/** `skopeo inspect` of `ref` with alice's credentials (`docker://` added). */
async function inspect(ref: string): Promise<{ Digest: string; Layers: string[] }> {
  return JSON.parse(
    await mustRun("skopeo", [
      "inspect",
      "--tls-verify=false",
      "--creds",
      `${alice.username}:${alice.password}`,
      `docker://${ref}`,
    ]),
  ) as { Digest: string; Layers: string[] };
}

beforeAll(async () => {
  requireRoot();
  for (const p of ["skopeo", "umoci", "setfattr", "tar", "openssl", "docker-registry"]) {
    await requireProgram(p);
  }
  work = await mkdtemp(join(tmpdir(), "e2e-images-token-"));
  registry = await startTokenRegistry({ users: [alice] });
  proxy = await startCountingProxy(registry.port);
  root = join(work, "root");
  const base = join(work, "base");
  const child = join(work, "child");
  await mkdir(base);
  await buildBaseTree(base, "token");
  await buildChildTree(base, child);
  childTree = committedTree(child);
  const baseRef = await strataOk(root, ["commit", base]);
  childRef = await strataOk(root, ["commit", child, "--parent", baseRef]);
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("the reference registry behind token auth", () => {
  it("answers an anonymous push with a Bearer challenge naming the token server", async () => {
    const res = await fetch(`http://${registry.host}/v2/e2e/app/blobs/uploads/`, {
      method: "POST",
    });
    await res.body?.cancel();
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toContain(`Bearer realm="${registry.realm}"`);
  });
});

describe("strata image export and import with credentials from config.json", () => {
  let config: string;
  let printed: string;
  let exportRequests: number;
  let exportTokens: { scopes: string[]; user: string | undefined }[];

  beforeAll(async () => {
    config = await dockerConfig(proxy.host, alice);
    proxy.clear();
    const before = registry.tokenRequests.length;
    printed = await strataOk(
      root,
      ["image", "export", childRef, "--to", `registry:${proxy.host}/e2e/app:v1`],
      { env: { DOCKER_CONFIG: config } },
    );
    exportRequests = proxy.requests.length;
    exportTokens = registry.tokenRequests.slice(before);
  }, 120_000);

  it("pushes the image: skopeo, with the same credentials, sees the digest Strata printed", async () => {
    expect(printed).toMatch(/^sha256:[0-9a-f]{64}$/);
    const finished = proxy.uploads().filter((r) => r.method === "PUT" && r.status === 201);
    expect(finished.length).toBe(3); // two layers and the config
    const info = await inspect(`${registry.host}/e2e/app:v1`);
    expect(info.Digest).toBe(printed);
    expect(info.Layers).toHaveLength(2);
  }, 60_000);

  it("asks the token server once per scope, as alice, not once per request", () => {
    expect(exportTokens.length).toBeGreaterThan(0);
    expect(exportTokens.every((t) => t.user === alice.username)).toBe(true);
    const scopes = exportTokens.map((t) => t.scopes.join(" "));
    expect(scopes).toContain("repository:e2e/app:pull,push");
    // One request per scope: none asked twice within the process.
    expect(new Set(scopes).size).toBe(scopes.length);
    // Blob HEADs, three uploads of at least two requests each, the manifest.
    expect(exportRequests).toBeGreaterThanOrEqual(10);
    expect(exportTokens.length).toBeLessThanOrEqual(2);
  });

  it("a second export sends no blob and asks for no more tokens than the first", async () => {
    proxy.clear();
    const before = registry.tokenRequests.length;
    const again = await strataOk(
      root,
      ["image", "export", childRef, "--to", `registry:${proxy.host}/e2e/app:v1`],
      { env: { DOCKER_CONFIG: config } },
    );
    expect(again).toBe(printed);
    expect(proxy.uploads()).toEqual([]);
    expect(registry.tokenRequests.length - before).toBeLessThanOrEqual(exportTokens.length);
  }, 60_000);

  it("imports lazily (no layer fetched), then the contents unpack to the committed tree", async () => {
    const other = join(work, "root-import");
    const layers = (await inspect(`${registry.host}/e2e/app:v1`)).Layers;
    proxy.clear();
    const before = registry.tokenRequests.length;
    const ref = await strataOk(other, ["image", "import", `registry:${proxy.host}/e2e/app:v1`], {
      env: { DOCKER_CONFIG: config },
    });
    expect(ref).toMatch(/^\S+$/);
    expect(proxy.requests.some((r) => r.url.includes("/manifests/"))).toBe(true);
    expect(proxy.blobGets(layers)).toEqual([]);
    const importTokens = registry.tokenRequests.slice(before);
    expect(importTokens.map((t) => t.user)).toEqual(importTokens.map(() => alice.username));
    expect(importTokens.map((t) => t.scopes.join(" "))).toEqual(["repository:e2e/app:pull"]);
    // Using the contents (an export to an OCI layout) fetches each layer once,
    // in another process, with the credentials again.
    const layout = join(await fresh("lazy"), "layout");
    await strataOk(other, ["image", "export", ref, "--to", `oci:${layout}:v1`], {
      env: { DOCKER_CONFIG: config },
    });
    const gets = proxy.blobGets(layers).filter((r) => r.status === 200 || r.status === 206);
    expect(gets.length).toBe(layers.length);
    expect(new Set(gets.map((r) => r.url)).size).toBe(layers.length);
    expect((await layoutManifest(layout, "v1")).layers.map((l) => l.digest)).toEqual(layers);
    const bundle = join(await fresh("bundle"), "b");
    await mustRun("umoci", ["unpack", "--image", `${layout}:v1`, bundle]);
    expect(compareTrees(childTree, snapshotTree(join(bundle, "rootfs")))).toEqual([]);
  }, 120_000);
});

describe("wrong credentials", () => {
  let wrong: string;
  const mallory: Credentials = { username: "alice", password: "not the password" };

  beforeAll(async () => {
    wrong = await dockerConfig(proxy.host, mallory);
  });

  it("fail an export with an unauthenticated error naming the token server, pushing nothing", async () => {
    const before = registry.tokenRequests.length;
    const r = await strata(
      root,
      ["image", "export", childRef, "--to", `registry:${proxy.host}/e2e/wrong:v1`],
      { env: { DOCKER_CONFIG: wrong } },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unauthenticated/i);
    expect(r.stderr).toContain(registry.realm);
    expect(r.stderr).not.toContain(mallory.password);
    const refused = registry.tokenRequests.slice(before);
    expect(refused.length).toBeGreaterThan(0);
    const inspected = await mustRun("sh", [
      "-c",
      'skopeo inspect --tls-verify=false --creds "$1" "docker://$2/e2e/wrong:v1" 2>&1 || true',
      "sh",
      `${alice.username}:${alice.password}`,
      registry.host,
    ]);
    expect(inspected).toMatch(/manifest unknown|not found/i);
  }, 60_000);

  it("fail an export with --username and a wrong --password-stdin the same way", async () => {
    const r = await strata(
      root,
      [
        "image",
        "export",
        childRef,
        "--to",
        `registry:${proxy.host}/e2e/wrong:v1`,
        "--username",
        alice.username,
        "--password-stdin",
      ],
      { input: `${mallory.password}\n` },
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unauthenticated/i);
    expect(r.stderr).not.toContain(mallory.password);
  }, 60_000);

  it("fail an import with an unauthenticated error, and the root stores no ref and no blob", async () => {
    const other = join(work, "root-wrong-import");
    const r = await strata(other, ["image", "import", `registry:${proxy.host}/e2e/app:v1`], {
      env: { DOCKER_CONFIG: wrong },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unauthenticated/i);
    expect(r.stderr).toContain(registry.realm);
    expect(await strataOk(other, ["ref", "ls", "--quiet"], { all: true })).toBe("");
    expect(await strataOk(other, ["content", "ls", "-q"], { all: true })).toBe("");
  }, 60_000);
});
