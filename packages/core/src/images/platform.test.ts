import { isNotFound } from "@strata/errdefs";
import { type ImageIndex, MediaType } from "@strata/oci";
import { describe, expect, it } from "vitest";
import { hostPlatform, selectManifest } from "./platform.ts";

const digest = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}` as const;

const index: ImageIndex = {
  schemaVersion: 2,
  mediaType: MediaType.OCI_INDEX,
  manifests: [
    {
      mediaType: MediaType.OCI_MANIFEST,
      digest: digest(1),
      size: 1,
      platform: { os: "linux", architecture: "amd64" },
    },
    {
      mediaType: MediaType.OCI_MANIFEST,
      digest: digest(2),
      size: 1,
      platform: { os: "linux", architecture: "arm64", variant: "v8" },
    },
    {
      mediaType: MediaType.OCI_MANIFEST,
      digest: digest(3),
      size: 1,
      platform: { os: "linux", architecture: "arm", variant: "v7" },
    },
  ],
};

describe("selectManifest", () => {
  it("picks the entry of the wanted OS and architecture", () => {
    expect(selectManifest(index, { os: "linux", architecture: "amd64" }).digest).toBe(digest(1));
    expect(selectManifest(index, { os: "linux", architecture: "arm", variant: "v7" }).digest).toBe(
      digest(3),
    );
  });

  it("treats arm64 without a variant as v8", () => {
    expect(selectManifest(index, { os: "linux", architecture: "arm64" }).digest).toBe(digest(2));
  });

  it("takes a lone entry without a platform", () => {
    const one: ImageIndex = {
      schemaVersion: 2,
      manifests: [{ mediaType: MediaType.OCI_MANIFEST, digest: digest(4), size: 1 }],
    };
    expect(selectManifest(one, { os: "linux", architecture: "s390x" }).digest).toBe(digest(4));
  });

  it("fails with NotFound naming what the index has", () => {
    let err: unknown;
    try {
      selectManifest(index, { os: "windows", architecture: "amd64" });
    } catch (e) {
      err = e;
    }
    expect(isNotFound(err)).toBe(true);
    expect((err as Error).message).toContain("linux/arm/v7");
  });
});

describe("hostPlatform", () => {
  it("names this machine in Go's terms", () => {
    const p = hostPlatform();
    expect(p.os).toBe("linux");
    expect(["amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64"]).toContain(
      p.architecture,
    );
  });
});
