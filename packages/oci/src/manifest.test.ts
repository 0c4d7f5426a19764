import {
  isInvalidArgument,
  isNotImplemented,
  isResourceExhausted,
  ResourceExhaustedError,
} from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { digestOf } from "./digest.ts";
import { detectManifestMediaType, parseIndex, parseManifest } from "./manifest.ts";
import { MediaType } from "./media_types.ts";

const A = digestOf("a");
const B = digestOf("b");
const C = digestOf("c");

function ociManifest(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MediaType.OCI_MANIFEST,
    config: { mediaType: MediaType.OCI_CONFIG, digest: A, size: 1 },
    layers: [
      { mediaType: MediaType.OCI_LAYER_GZIP, digest: B, size: 1 },
      { mediaType: MediaType.OCI_LAYER_ZSTD, digest: C, size: 1 },
      { mediaType: MediaType.OCI_LAYER, digest: C, size: 1 },
    ],
    ...extra,
  };
}

function dockerManifest(): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MediaType.DOCKER_MANIFEST,
    config: { mediaType: MediaType.DOCKER_CONFIG, digest: A, size: 1 },
    layers: [{ mediaType: MediaType.DOCKER_LAYER_GZIP, digest: B, size: 1 }],
  };
}

function ociIndex(): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MediaType.OCI_INDEX,
    manifests: [
      {
        mediaType: MediaType.OCI_MANIFEST,
        digest: A,
        size: 1,
        platform: { architecture: "amd64", os: "linux" },
      },
    ],
    annotations: { x: "y" },
  };
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a throw");
}

describe("parseManifest", () => {
  it("parses an OCI manifest from a string and from bytes", () => {
    const text = JSON.stringify(ociManifest());
    const m = parseManifest(text);
    expect(m.layers).toHaveLength(3);
    expect(m.config.digest).toBe(A);
    expect(parseManifest(new TextEncoder().encode(text))).toEqual(m);
  });

  it("parses a Docker schema 2 manifest", () => {
    expect(parseManifest(JSON.stringify(dockerManifest())).mediaType).toBe(
      MediaType.DOCKER_MANIFEST,
    );
  });

  it("parses a manifest without mediaType, with subject and annotations", () => {
    const { mediaType: _, ...rest } = ociManifest({
      subject: { mediaType: MediaType.OCI_MANIFEST, digest: B, size: 2 },
      annotations: { k: "v" },
      artifactType: "application/vnd.example",
    });
    const m = parseManifest(JSON.stringify(rest));
    expect(m.mediaType).toBeUndefined();
    expect(m.subject?.digest).toBe(B);
    expect(m.annotations).toEqual({ k: "v" });
  });

  it("names the field path of a bad layer digest", () => {
    const m = ociManifest();
    (m.layers as Array<Record<string, unknown>>)[2] = {
      mediaType: MediaType.OCI_LAYER,
      digest: "sha256:1234",
      size: 1,
    };
    const err = errorOf(() => parseManifest(JSON.stringify(m)));
    expect(isInvalidArgument(err)).toBe(true);
    expect(err.message).toMatch(/^manifest\.layers\[2\]\.digest: invalid digest "sha256:1234"/);
  });

  const invalid: Array<[string, unknown, RegExp]> = [
    ["a JSON array", [], /^manifest: must be an object, got array/],
    [
      "a wrong schemaVersion",
      ociManifest({ schemaVersion: 3 }),
      /^manifest.schemaVersion: must be 2/,
    ],
    ["missing layers", ociManifest({ layers: undefined }), /^manifest.layers: must be an array/],
    ["missing config", ociManifest({ config: undefined }), /^manifest.config: must be an object/],
    [
      "an index media type",
      ociManifest({ mediaType: MediaType.OCI_INDEX }),
      /^manifest.mediaType: must be one of/,
    ],
    [
      "a non-string annotation",
      ociManifest({ annotations: { a: true } }),
      /^manifest.annotations\["a"\]/,
    ],
    ["an index document", ociIndex(), /this is an index/],
    [
      "a Docker manifest with an OCI config",
      { ...dockerManifest(), config: { mediaType: MediaType.OCI_CONFIG, digest: A, size: 1 } },
      /^manifest.config.mediaType: a Docker schema 2 manifest needs/,
    ],
  ];
  for (const [name, value, message] of invalid) {
    it(`rejects ${name}`, () => {
      const err = errorOf(() => parseManifest(JSON.stringify(value)));
      expect(isInvalidArgument(err)).toBe(true);
      expect(err.message).toMatch(message);
    });
  }

  it("rejects invalid JSON with InvalidArgument and the parser's error as cause", () => {
    const err = errorOf(() => parseManifest("{not json"));
    expect(isInvalidArgument(err)).toBe(true);
    expect(err.message).toMatch(/^cannot parse manifest: invalid JSON/);
    expect(err.cause).toBeInstanceOf(SyntaxError);
  });

  it("rejects schema 1 as NotImplemented", () => {
    const err = errorOf(() => parseManifest(JSON.stringify({ schemaVersion: 1, fsLayers: [] })));
    expect(isNotImplemented(err)).toBe(true);
  });

  it("rejects a document over the default 4 MiB limit with ResourceExhausted", () => {
    const big = JSON.stringify(ociManifest({ annotations: { pad: "x".repeat(4 * 1024 * 1024) } }));
    const err = errorOf(() => parseManifest(big));
    expect(err).toBeInstanceOf(ResourceExhaustedError);
    expect(err.message).toMatch(/more than the limit of 4194304/);
  });

  it("honours a smaller maxBytes, counting UTF-8 bytes", () => {
    const text = JSON.stringify(ociManifest({ annotations: { é: "é" } }));
    const bytes = new TextEncoder().encode(text).byteLength;
    expect(bytes).toBeGreaterThan(text.length);
    expect(() => parseManifest(text, { maxBytes: bytes })).not.toThrow();
    expect(isResourceExhausted(errorOf(() => parseManifest(text, { maxBytes: text.length })))).toBe(
      true,
    );
  });
});

describe("parseIndex", () => {
  it("parses an OCI index", () => {
    const idx = parseIndex(JSON.stringify(ociIndex()));
    expect(idx.manifests[0]?.platform?.architecture).toBe("amd64");
    expect(idx.annotations).toEqual({ x: "y" });
  });

  it("parses a Docker manifest list", () => {
    const list = { ...ociIndex(), mediaType: MediaType.DOCKER_MANIFEST_LIST };
    expect(parseIndex(JSON.stringify(list)).mediaType).toBe(MediaType.DOCKER_MANIFEST_LIST);
  });

  it("names the path of a bad platform", () => {
    const idx = ociIndex();
    (idx.manifests as Array<Record<string, unknown>>)[0] = {
      mediaType: MediaType.OCI_MANIFEST,
      digest: A,
      size: 1,
      platform: { os: "linux" },
    };
    const err = errorOf(() => parseIndex(JSON.stringify(idx)));
    expect(isInvalidArgument(err)).toBe(true);
    expect(err.message).toMatch(/^index\.manifests\[0\]\.platform\.architecture: must be a string/);
  });

  it("rejects a manifest document", () => {
    expect(errorOf(() => parseIndex(JSON.stringify(ociManifest()))).message).toMatch(
      /this is a manifest/,
    );
  });

  it("rejects a manifest media type", () => {
    const idx = { ...ociIndex(), mediaType: MediaType.OCI_MANIFEST };
    expect(errorOf(() => parseIndex(JSON.stringify(idx))).message).toMatch(
      /^index.mediaType: must be one of/,
    );
  });

  it("honours maxBytes", () => {
    expect(
      isResourceExhausted(errorOf(() => parseIndex(JSON.stringify(ociIndex()), { maxBytes: 10 }))),
    ).toBe(true);
  });
});

describe("detectManifestMediaType", () => {
  it("returns the mediaType field when present", () => {
    expect(detectManifestMediaType(JSON.stringify(dockerManifest()))).toBe(
      MediaType.DOCKER_MANIFEST,
    );
    const list = { ...ociIndex(), mediaType: MediaType.DOCKER_MANIFEST_LIST };
    expect(detectManifestMediaType(JSON.stringify(list))).toBe(MediaType.DOCKER_MANIFEST_LIST);
  });

  it("tells an index by its manifests field", () => {
    const { mediaType: _, ...rest } = ociIndex();
    expect(detectManifestMediaType(JSON.stringify(rest))).toBe(MediaType.OCI_INDEX);
  });

  it("tells a manifest by its config and layers fields", () => {
    const { mediaType: _, ...rest } = ociManifest();
    expect(detectManifestMediaType(new TextEncoder().encode(JSON.stringify(rest)))).toBe(
      MediaType.OCI_MANIFEST,
    );
  });

  it("rejects schema 1 by version or media type as NotImplemented", () => {
    expect(isNotImplemented(errorOf(() => detectManifestMediaType('{"schemaVersion":1}')))).toBe(
      true,
    );
    const signed = JSON.stringify({ mediaType: MediaType.DOCKER_MANIFEST_SCHEMA1_SIGNED });
    expect(isNotImplemented(errorOf(() => detectManifestMediaType(signed)))).toBe(true);
  });

  it("rejects a document of no known shape", () => {
    const err = errorOf(() => detectManifestMediaType('{"schemaVersion":2}'));
    expect(isInvalidArgument(err)).toBe(true);
    expect(err.message).toMatch(/cannot tell the media type/);
  });

  it("rejects a document with both manifests and layers", () => {
    const both = { ...ociManifest(), mediaType: undefined, manifests: [] };
    expect(isInvalidArgument(errorOf(() => detectManifestMediaType(JSON.stringify(both))))).toBe(
      true,
    );
  });
});
