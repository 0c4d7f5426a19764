import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { formatReference, parseReference, registryEndpoint } from "./reference.ts";

const DIGEST = `sha256:${"a".repeat(64)}`;

describe("parseReference", () => {
  it("normalizes a bare Docker Hub name to library/ and latest", () => {
    expect(parseReference("alpine")).toEqual({
      registry: "docker.io",
      repository: "library/alpine",
      tag: "latest",
    });
  });

  it("keeps a Docker Hub user path without library/", () => {
    expect(parseReference("acme/app:1.0")).toEqual({
      registry: "docker.io",
      repository: "acme/app",
      tag: "1.0",
    });
  });

  it("maps index.docker.io to docker.io", () => {
    expect(parseReference("index.docker.io/busybox").repository).toBe("library/busybox");
    expect(parseReference("index.docker.io/busybox").registry).toBe("docker.io");
  });

  it("reads host:port, nested path, tag and digest together", () => {
    expect(parseReference(`127.0.0.1:5000/team/sub/app:v1@${DIGEST}`)).toEqual({
      registry: "127.0.0.1:5000",
      repository: "team/sub/app",
      tag: "v1",
      digest: DIGEST,
    });
  });

  it("gives no default tag when a digest pins the reference", () => {
    expect(parseReference(`ghcr.io/a/b@${DIGEST}`)).toEqual({
      registry: "ghcr.io",
      repository: "a/b",
      digest: DIGEST,
    });
  });

  it("treats localhost and IPv6 literals as hosts", () => {
    expect(parseReference("localhost/app").registry).toBe("localhost");
    expect(parseReference("[::1]:5000/app:x").registry).toBe("[::1]:5000");
    expect(parseReference("Registry/app").registry).toBe("Registry");
  });

  it("accepts separators inside path components", () => {
    expect(parseReference("a.b/x__y/z-w.v:t").repository).toBe("x__y/z-w.v");
  });

  it.each([
    "",
    "UPPER",
    "alpine:",
    "alpine:bad tag",
    `alpine:${"t".repeat(129)}`,
    "host/-bad",
    "host/a//b",
    "alpine@sha256:abc",
    "alpine@md5:aaaa",
    "bad_host:5000:x/app",
    "a".repeat(64),
    `host.io/${"a".repeat(260)}`,
    "example.com:/app",
  ])("rejects %j with InvalidArgument", (ref) => {
    let caught: unknown;
    try {
      parseReference(ref);
    } catch (err) {
      caught = err;
    }
    expect(isInvalidArgument(caught)).toBe(true);
    expect(String(caught)).toContain("invalid reference");
  });
});

describe("formatReference", () => {
  it("writes what parseReference reads", () => {
    for (const ref of [
      "docker.io/library/alpine:latest",
      `h:1/a/b:t@${DIGEST}`,
      `h.io/a@${DIGEST}`,
    ]) {
      expect(formatReference(parseReference(ref))).toBe(ref);
    }
  });
});

describe("registryEndpoint", () => {
  it("maps docker.io to registry-1.docker.io and keeps other hosts", () => {
    expect(registryEndpoint("docker.io")).toBe("registry-1.docker.io");
    expect(registryEndpoint("ghcr.io")).toBe("ghcr.io");
  });
});
