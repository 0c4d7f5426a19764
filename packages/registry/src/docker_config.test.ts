import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isInvalidArgument } from "@strata/errdefs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerConfigPath, loadDockerConfig, parseDockerConfig } from "./docker_config.ts";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

describe("parseDockerConfig", () => {
  it("decodes auth, username/password and identitytoken entries", () => {
    const lookup = parseDockerConfig(
      JSON.stringify({
        auths: {
          "https://index.docker.io/v1/": { auth: b64("hub:p:w") },
          "ghcr.io": { username: "u", password: "p" },
          "http://127.0.0.1:5000": { identitytoken: "refresh-1" },
          "empty.io": {},
        },
        credsStore: "desktop",
      }),
    );
    expect(lookup("docker.io")).toEqual({ username: "hub", password: "p:w" });
    expect(lookup("registry-1.docker.io")).toEqual({ username: "hub", password: "p:w" });
    expect(lookup("GHCR.io")).toEqual({ username: "u", password: "p" });
    expect(lookup("127.0.0.1:5000")).toEqual({ identityToken: "refresh-1" });
    expect(lookup("empty.io")).toBeUndefined();
    expect(lookup("other.io")).toBeUndefined();
  });

  it("gives no credentials when there is no auths section", () => {
    expect(parseDockerConfig("{}")("docker.io")).toBeUndefined();
  });

  it("rejects text that is not JSON", () => {
    expect(() => parseDockerConfig("{nope")).toThrow(/not JSON/);
    try {
      parseDockerConfig("{nope");
    } catch (err) {
      expect(isInvalidArgument(err)).toBe(true);
    }
  });

  it("rejects an auth that is not base64 user:password", () => {
    expect(() =>
      parseDockerConfig(JSON.stringify({ auths: { h: { auth: b64("nocolon") } } })),
    ).toThrow(/auth of "h"/);
  });
});

describe("dockerConfigPath", () => {
  it("uses DOCKER_CONFIG when set, ~/.docker otherwise", () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: "/etc/d" })).toBe("/etc/d/config.json");
    expect(dockerConfigPath({ HOME: "/x" })).toMatch(/\.docker\/config\.json$/);
  });
});

describe("loadDockerConfig", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "strata-dockercfg-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("reads the file at the given path", async () => {
    const path = join(dir, "config.json");
    await writeFile(path, JSON.stringify({ auths: { "r.io": { auth: b64("a:b") } } }));
    const lookup = await loadDockerConfig({ path });
    expect(lookup("r.io")).toEqual({ username: "a", password: "b" });
  });

  it("means no credentials when the file is missing", async () => {
    const lookup = await loadDockerConfig({ path: join(dir, "absent.json") });
    expect(lookup("r.io")).toBeUndefined();
  });

  it("fails on a file that is not JSON", async () => {
    const path = join(dir, "bad.json");
    await writeFile(path, "garbage");
    await expect(loadDockerConfig({ path })).rejects.toThrow(/bad\.json: not JSON/);
  });
});
