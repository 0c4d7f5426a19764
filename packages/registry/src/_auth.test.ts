import { randomBytes } from "node:crypto";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isUnauthenticated } from "@strata/errdefs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunksOf, collect, descOf, startRegistry, type TestRegistry } from "./_test_registry.ts";
import { makeTokenKeys, startTokenServer, type TokenKeys } from "./_test_servers.ts";
import { loadDockerConfig } from "./docker_config.ts";
import { RegistryClient } from "./registry_client.ts";

const FAST = { retries: 2, minDelay: 5, maxDelay: 50 };

// The reference registry with `auth.token`: it only accepts JWTs signed by
// our key, issued by the token server below, which checks Basic credentials.
let keys: TokenKeys;
let tokens: Awaited<ReturnType<typeof startTokenServer>>;
let registry: TestRegistry;

beforeAll(async () => {
  keys = await makeTokenKeys();
  tokens = await startTokenServer({
    keys,
    issuer: "strata-test-issuer",
    service: "strata-test",
    users: { alice: "wonderland" },
    refreshTokens: { "refresh-alice": "alice" },
    expiresIn: 1,
  });
  registry = await startRegistry({
    token: {
      realm: tokens.realm,
      service: "strata-test",
      issuer: "strata-test-issuer",
      rootCertBundle: keys.certPath,
    },
  });
});
afterAll(async () => {
  await registry?.stop();
  await tokens?.stop();
  if (keys !== undefined) await rm(keys.dir, { recursive: true, force: true });
});

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

describe("Authenticator (bearer token flow)", () => {
  it("pushes and pulls with a token fetched from the challenge's realm", async () => {
    const client = new RegistryClient({
      retry: FAST,
      credentials: (host) =>
        host === registry.host ? { username: "alice", password: "wonderland" } : undefined,
    });
    const repo = client.repository(`${registry.host}/auth/app`);
    const before = tokens.requests.length;
    const blob = randomBytes(10_000);
    expect(await repo.pushBlob(descOf(blob), chunksOf(blob))).toBe("uploaded");
    expect(await collect(repo.fetchBlob(descOf(blob)))).toEqual(blob);
    const asked = tokens.requests.slice(before);
    expect(asked.every((r) => r.user === "alice")).toBe(true);
    expect(asked.map((r) => r.scopes.join(" "))).toContain("repository:auth/app:pull,push");
  });

  it("reuses a cached token per scope and fetches a new one after expires_in", async () => {
    const credentials = () => ({ username: "alice", password: "wonderland" });
    const blob = randomBytes(100);
    await new RegistryClient({ retry: FAST, credentials })
      .repository(`${registry.host}/auth/cache`)
      .pushBlob(descOf(blob), chunksOf(blob));
    const repo = new RegistryClient({ retry: FAST, credentials }).repository(
      `${registry.host}/auth/cache`,
    );
    const before = tokens.requests.length;
    for (let i = 0; i < 3; i++) await repo.statBlob(descOf(blob).digest);
    expect(tokens.requests.length - before).toBe(1);
    await new Promise((r) => setTimeout(r, 1100));
    await repo.statBlob(descOf(blob).digest);
    expect(tokens.requests.length - before).toBe(2);
  });

  it("lets an anonymous client pull but not push", async () => {
    const owner = new RegistryClient({
      retry: FAST,
      credentials: () => ({ username: "alice", password: "wonderland" }),
    });
    const blob = randomBytes(300);
    await owner.repository(`${registry.host}/auth/public`).pushBlob(descOf(blob), chunksOf(blob));
    const anonymous = new RegistryClient({ retry: FAST }).repository(
      `${registry.host}/auth/public`,
    );
    expect(await collect(anonymous.fetchBlob(descOf(blob)))).toEqual(blob);
    const other = randomBytes(300);
    const err = await caught(anonymous.pushBlob(descOf(other), chunksOf(other)));
    expect(isUnauthenticated(err)).toBe(true);
    expect(String(err)).toContain("POST http://");
    expect(String(err)).toContain("UNAUTHORIZED");
  });

  it("fails with Unauthenticated naming the token server on a wrong password", async () => {
    const client = new RegistryClient({
      retry: FAST,
      credentials: () => ({ username: "alice", password: "wrong" }),
    });
    const err = await caught(client.repository(`${registry.host}/auth/app`).listTags());
    expect(isUnauthenticated(err)).toBe(true);
    expect(String(err)).toContain(`token server ${tokens.realm} refused access`);
    expect(String(err)).toContain("bad credentials");
  });

  it("exchanges an identity token from docker's config.json with a refresh_token grant", async () => {
    const path = join(keys.dir, "config.json");
    await writeFile(
      path,
      JSON.stringify({
        auths: { [`http://${registry.host}`]: { identitytoken: "refresh-alice" } },
      }),
    );
    const client = new RegistryClient({
      retry: FAST,
      credentials: await loadDockerConfig({ path }),
    });
    const repo = client.repository(`${registry.host}/auth/identity`);
    const before = tokens.requests.length;
    const blob = randomBytes(64);
    expect(await repo.pushBlob(descOf(blob), chunksOf(blob))).toBe("uploaded");
    const asked = tokens.requests.slice(before);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((r) => r.method === "POST" && r.grantType === "refresh_token")).toBe(true);
  });

  it("uses base64 auth from docker's config.json", async () => {
    const path = join(keys.dir, "config-basic.json");
    const auth = Buffer.from("alice:wonderland").toString("base64");
    await writeFile(path, JSON.stringify({ auths: { [registry.host]: { auth } } }));
    const client = new RegistryClient({
      retry: FAST,
      credentials: await loadDockerConfig({ path }),
    });
    const blob = randomBytes(64);
    expect(
      await client
        .repository(`${registry.host}/auth/config`)
        .pushBlob(descOf(blob), chunksOf(blob)),
    ).toBe("uploaded");
  });
});
