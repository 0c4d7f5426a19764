import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { validateDescriptor, validatePlatform } from "./descriptor.ts";
import { digestOf } from "./digest.ts";
import { MediaType } from "./media_types.ts";

const HELLO = digestOf("hello");

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    expect(isInvalidArgument(err)).toBe(true);
    return err as Error;
  }
  throw new Error("expected a throw");
}

describe("validateDescriptor", () => {
  it("accepts a minimal descriptor", () => {
    const d = { mediaType: MediaType.OCI_LAYER_GZIP, digest: HELLO, size: 5 };
    expect(validateDescriptor(d)).toEqual(d);
  });

  it("keeps optional fields and drops unknown ones and nulls", () => {
    const d = validateDescriptor({
      mediaType: MediaType.OCI_MANIFEST,
      digest: HELLO,
      size: 5,
      urls: ["https://example.com/blob"],
      annotations: { a: "b" },
      platform: { architecture: "arm64", os: "linux", variant: "v8", "os.features": ["x"] },
      artifactType: "application/vnd.example+json",
      data: Buffer.from("hello").toString("base64"),
      extra: 1,
      "os.version": null,
    });
    expect(d.platform).toEqual({
      architecture: "arm64",
      os: "linux",
      variant: "v8",
      "os.features": ["x"],
    });
    expect(d.data).toBe("aGVsbG8=");
    expect("extra" in d).toBe(false);
  });

  const cases: Array<[string, unknown, RegExp]> = [
    ["a non-object", "x", /^descriptor: must be an object, got string/],
    ["a missing media type", { digest: HELLO, size: 5 }, /^descriptor.mediaType: must be a string/],
    ["a bad media type", { mediaType: "nope", digest: HELLO, size: 5 }, /invalid media type/],
    [
      "a bad digest",
      { mediaType: MediaType.OCI_LAYER, digest: "sha256:XYZ", size: 5 },
      /^descriptor.digest: invalid digest/,
    ],
    [
      "a negative size",
      { mediaType: MediaType.OCI_LAYER, digest: HELLO, size: -1 },
      /^descriptor.size: must not be negative/,
    ],
    [
      "a fractional size",
      { mediaType: MediaType.OCI_LAYER, digest: HELLO, size: 1.5 },
      /^descriptor.size: must be an integer/,
    ],
    [
      "a size given as a string",
      { mediaType: MediaType.OCI_LAYER, digest: HELLO, size: "5" },
      /^descriptor.size: must be an integer, got string/,
    ],
    [
      "a non-string annotation",
      { mediaType: MediaType.OCI_LAYER, digest: HELLO, size: 5, annotations: { a: 1 } },
      /^descriptor.annotations\["a"\]: must be a string/,
    ],
    [
      "a bad URL",
      { mediaType: MediaType.OCI_LAYER, digest: HELLO, size: 5, urls: ["not a url"] },
      /^descriptor.urls\[0\]: invalid URL/,
    ],
    [
      "embedded data of the wrong size",
      { mediaType: MediaType.OCI_LAYER, digest: HELLO, size: 4, data: "aGVsbG8=" },
      /^descriptor.data: holds 5 bytes, but size is 4/,
    ],
    [
      "embedded data of the wrong digest",
      { mediaType: MediaType.OCI_LAYER, digest: HELLO, size: 5, data: "aGVsbE8=" },
      /^descriptor.data: digest is/,
    ],
    [
      "embedded data that is not base64",
      { mediaType: MediaType.OCI_LAYER, digest: HELLO, size: 5, data: "%%%" },
      /^descriptor.data: must be base64/,
    ],
    [
      "a platform without os",
      { mediaType: MediaType.OCI_LAYER, digest: HELLO, size: 5, platform: { architecture: "x" } },
      /^descriptor.platform.os: must be a string, got undefined/,
    ],
  ];
  for (const [name, value, message] of cases) {
    it(`rejects ${name}`, () => {
      expect(errorOf(() => validateDescriptor(value)).message).toMatch(message);
    });
  }

  it("uses the path it is given", () => {
    expect(errorOf(() => validateDescriptor({}, "manifest.layers[2]")).message).toMatch(
      /^manifest.layers\[2\].mediaType:/,
    );
  });
});

describe("validatePlatform", () => {
  it("rejects non-string os.features", () => {
    expect(
      errorOf(() => validatePlatform({ architecture: "amd64", os: "linux", "os.features": [1] }))
        .message,
    ).toMatch(/^platform.os.features\[0\]: must be a string/);
  });
});
