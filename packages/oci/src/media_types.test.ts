import { describe, expect, it } from "vitest";
import {
  baseMediaType,
  isConfigMediaType,
  isIndexMediaType,
  isLayerMediaType,
  isManifestMediaType,
  isNonDistributableMediaType,
  layerCompression,
  layerMediaType,
  MediaType,
} from "./media_types.ts";

describe("MediaType", () => {
  it("spells the spec's media types", () => {
    expect(MediaType.OCI_LAYER_ZSTD).toBe("application/vnd.oci.image.layer.v1.tar+zstd");
    expect(MediaType.DOCKER_LAYER).toBe("application/vnd.docker.image.rootfs.diff.tar");
    expect(MediaType.DOCKER_LAYER_ZSTD).toBe("application/vnd.docker.image.rootfs.diff.tar.zstd");
    expect(MediaType.DOCKER_LAYER_FOREIGN_GZIP).toBe(
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    );
    expect(MediaType.OCI_EMPTY).toBe("application/vnd.oci.empty.v1+json");
  });
});

describe("isLayerMediaType", () => {
  it("accepts every layer type with each compression", () => {
    for (const t of [
      MediaType.OCI_LAYER,
      MediaType.OCI_LAYER_GZIP,
      MediaType.OCI_LAYER_ZSTD,
      MediaType.OCI_LAYER_NONDISTRIBUTABLE,
      MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP,
      MediaType.OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
      MediaType.DOCKER_LAYER,
      MediaType.DOCKER_LAYER_GZIP,
      MediaType.DOCKER_LAYER_ZSTD,
      MediaType.DOCKER_LAYER_FOREIGN,
      MediaType.DOCKER_LAYER_FOREIGN_GZIP,
    ]) {
      expect(isLayerMediaType(t), t).toBe(true);
    }
  });

  it("rejects manifests, configs and unknown types", () => {
    expect(isLayerMediaType(MediaType.OCI_MANIFEST)).toBe(false);
    expect(isLayerMediaType(MediaType.OCI_CONFIG)).toBe(false);
    expect(isLayerMediaType("application/octet-stream")).toBe(false);
    expect(isLayerMediaType("")).toBe(false);
  });

  it("ignores parameters", () => {
    expect(isLayerMediaType(`${MediaType.OCI_LAYER_GZIP}; foo=bar`)).toBe(true);
  });
});

describe("layerCompression", () => {
  it("names the compression of each layer type", () => {
    expect(layerCompression(MediaType.OCI_LAYER)).toBe("uncompressed");
    expect(layerCompression(MediaType.DOCKER_LAYER_GZIP)).toBe("gzip");
    expect(layerCompression(MediaType.OCI_LAYER_NONDISTRIBUTABLE_ZSTD)).toBe("zstd");
    expect(layerCompression(MediaType.OCI_INDEX)).toBeUndefined();
  });
});

describe("isNonDistributableMediaType", () => {
  it("is true for OCI non-distributable and Docker foreign layers only", () => {
    expect(isNonDistributableMediaType(MediaType.OCI_LAYER_NONDISTRIBUTABLE_GZIP)).toBe(true);
    expect(isNonDistributableMediaType(MediaType.DOCKER_LAYER_FOREIGN)).toBe(true);
    expect(isNonDistributableMediaType(MediaType.OCI_LAYER_GZIP)).toBe(false);
    expect(isNonDistributableMediaType("text/plain")).toBe(false);
  });
});

describe("layerMediaType", () => {
  it("finds the type of each family and compression", () => {
    expect(layerMediaType("zstd")).toBe(MediaType.OCI_LAYER_ZSTD);
    expect(layerMediaType("gzip", { docker: true })).toBe(MediaType.DOCKER_LAYER_GZIP);
    expect(layerMediaType("uncompressed", { nonDistributable: true })).toBe(
      MediaType.OCI_LAYER_NONDISTRIBUTABLE,
    );
    expect(layerMediaType("gzip", { docker: true, nonDistributable: true })).toBe(
      MediaType.DOCKER_LAYER_FOREIGN_GZIP,
    );
  });

  it("returns undefined where Docker has no such type", () => {
    expect(layerMediaType("zstd", { docker: true, nonDistributable: true })).toBeUndefined();
  });
});

describe("isManifestMediaType / isIndexMediaType / isConfigMediaType", () => {
  it("classify OCI and Docker types", () => {
    expect(isManifestMediaType(MediaType.OCI_MANIFEST)).toBe(true);
    expect(isManifestMediaType(MediaType.DOCKER_MANIFEST)).toBe(true);
    expect(isManifestMediaType(MediaType.OCI_INDEX)).toBe(false);
    expect(isIndexMediaType(MediaType.DOCKER_MANIFEST_LIST)).toBe(true);
    expect(isIndexMediaType(MediaType.OCI_INDEX)).toBe(true);
    expect(isConfigMediaType(MediaType.DOCKER_CONFIG)).toBe(true);
    expect(isConfigMediaType(MediaType.OCI_LAYER)).toBe(false);
  });
});

describe("baseMediaType", () => {
  it("drops parameters and whitespace", () => {
    expect(baseMediaType(" text/plain ; charset=utf-8")).toBe("text/plain");
  });
});
