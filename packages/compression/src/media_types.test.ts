import { isInvalidArgument } from "@strata/errdefs";
import { describe, expect, it } from "vitest";
import { COMPRESSIONS, isCompression } from "./compression.ts";
import { ESTARGZ_TOC_DIGEST_ANNOTATION } from "./estargz_format.ts";
import { compressionOfMediaType, mediaTypeFor } from "./media_types.ts";

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected a throw");
}

describe("mediaTypeFor", () => {
  it("gives OCI media types by default", () => {
    expect(mediaTypeFor("uncompressed")).toBe("application/vnd.oci.image.layer.v1.tar");
    expect(mediaTypeFor("gzip")).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
    expect(mediaTypeFor("zstd")).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    expect(mediaTypeFor("estargz")).toBe("application/vnd.oci.image.layer.v1.tar+gzip");
  });

  it("gives Docker media types when asked", () => {
    expect(mediaTypeFor("uncompressed", { docker: true })).toBe(
      "application/vnd.docker.image.rootfs.diff.tar",
    );
    expect(mediaTypeFor("gzip", { docker: true })).toBe(
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
    );
  });

  it("rejects zstd and estargz with Docker media types", () => {
    expect(isInvalidArgument(thrown(() => mediaTypeFor("zstd", { docker: true })))).toBe(true);
    expect(isInvalidArgument(thrown(() => mediaTypeFor("estargz", { docker: true })))).toBe(true);
  });

  it("rejects an unknown compression", () => {
    expect(isInvalidArgument(thrown(() => mediaTypeFor("lz4" as "gzip")))).toBe(true);
  });
});

describe("compressionOfMediaType", () => {
  it("round-trips every compression through its media types", () => {
    for (const c of COMPRESSIONS) {
      const expected = c === "estargz" ? "gzip" : c;
      expect(compressionOfMediaType(mediaTypeFor(c))).toBe(expected);
      if (c === "uncompressed" || c === "gzip") {
        expect(compressionOfMediaType(mediaTypeFor(c, { docker: true }))).toBe(expected);
      }
    }
  });

  it("knows non-distributable, foreign and containerd's Docker zstd types", () => {
    expect(
      compressionOfMediaType("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"),
    ).toBe("zstd");
    expect(
      compressionOfMediaType("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"),
    ).toBe("gzip");
    expect(compressionOfMediaType("application/vnd.docker.image.rootfs.diff.tar.zstd")).toBe(
      "zstd",
    );
  });

  it("says estargz for gzip with the TOC digest annotation", () => {
    const annotations = { [ESTARGZ_TOC_DIGEST_ANNOTATION]: "sha256:00" };
    expect(
      compressionOfMediaType("application/vnd.oci.image.layer.v1.tar+gzip", { annotations }),
    ).toBe("estargz");
    expect(
      compressionOfMediaType("application/vnd.oci.image.layer.v1.tar+zstd", { annotations }),
    ).toBe("zstd");
  });

  it("ignores media type parameters", () => {
    expect(
      compressionOfMediaType("application/vnd.oci.image.layer.v1.tar+gzip; charset=binary"),
    ).toBe("gzip");
  });

  it("rejects non-layer and unknown media types", () => {
    for (const mt of [
      "application/vnd.oci.image.manifest.v1+json",
      "",
      "application/vnd.oci.image.layer.v1.tar+lz4",
    ]) {
      expect(isInvalidArgument(thrown(() => compressionOfMediaType(mt)))).toBe(true);
    }
  });
});

describe("isCompression", () => {
  it("accepts the four compressions only", () => {
    expect(COMPRESSIONS.every(isCompression)).toBe(true);
    expect(isCompression("lz4")).toBe(false);
    expect(isCompression(undefined)).toBe(false);
  });
});
