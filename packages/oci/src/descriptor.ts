import { InvalidArgumentError } from "@strata/errdefs";
import {
  fail,
  integer,
  mediaType,
  object,
  optional,
  optString,
  optStringArray,
  optStringMap,
  string,
} from "./_validate.ts";
import { type Digest, digestOf, parseDigest } from "./digest.ts";

/** The platform an image or manifest is for (OCI image-spec). */
export interface Platform {
  architecture: string;
  os: string;
  "os.version"?: string;
  "os.features"?: string[];
  variant?: string;
}

/** An OCI content descriptor: what a blob is, its digest and size. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  /** The content itself, base64, for small blobs embedded in the descriptor. */
  data?: string;
}

/** Annotation holding the tag of a manifest in an OCI layout's `index.json`. */
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";

/** Content label (and descriptor annotation) holding a layer's uncompressed digest (diffID). */
export const LABEL_UNCOMPRESSED = "containerd.io/uncompressed";

/**
 * Validates a platform object and returns a clean copy (known fields only).
 *
 * @throws {InvalidArgumentError} naming the field path, e.g. `platform.os: must be a string`.
 */
export function validatePlatform(value: unknown, path = "platform"): Platform {
  const obj = object(value, path);
  const platform: Platform = {
    architecture: string(obj.architecture, `${path}.architecture`),
    os: string(obj.os, `${path}.os`),
  };
  const osVersion = optString(obj, "os.version", path);
  if (osVersion !== undefined) platform["os.version"] = osVersion;
  const osFeatures = optStringArray(obj, "os.features", path);
  if (osFeatures !== undefined) platform["os.features"] = osFeatures;
  const variant = optString(obj, "variant", path);
  if (variant !== undefined) platform.variant = variant;
  return platform;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Validates a descriptor and returns a clean copy (known fields only, nulls
 * dropped). Embedded `data` is checked against size and digest.
 *
 * @throws {InvalidArgumentError} naming the field path, e.g.
 * `manifest.layers[2].digest: invalid digest "sha256:abc": …`.
 *
 * @example
 * ```ts
 * const desc = validateDescriptor(JSON.parse(text), "descriptor");
 * ```
 */
export function validateDescriptor(value: unknown, path = "descriptor"): Descriptor {
  const obj = object(value, path);
  const desc: Descriptor = {
    mediaType: mediaType(obj.mediaType, `${path}.mediaType`),
    digest: digestField(obj.digest, `${path}.digest`),
    size: integer(obj.size, `${path}.size`),
  };
  if (desc.size < 0) fail(`${path}.size`, `must not be negative, got ${desc.size}`);
  const urls = optStringArray(obj, "urls", path);
  if (urls !== undefined) {
    urls.forEach((u, i) => {
      if (!URL.canParse(u)) fail(`${path}.urls[${i}]`, `invalid URL ${JSON.stringify(u)}`);
    });
    desc.urls = urls;
  }
  const annotations = optStringMap(obj, "annotations", path);
  if (annotations !== undefined) desc.annotations = annotations;
  const platform = optional(obj, "platform");
  if (platform !== undefined) desc.platform = validatePlatform(platform, `${path}.platform`);
  const artifactType = optional(obj, "artifactType");
  if (artifactType !== undefined) {
    desc.artifactType = mediaType(artifactType, `${path}.artifactType`);
  }
  const data = optString(obj, "data", path);
  if (data !== undefined) {
    if (!BASE64.test(data)) fail(`${path}.data`, "must be base64");
    const bytes = Buffer.from(data, "base64");
    if (bytes.byteLength !== desc.size) {
      fail(`${path}.data`, `holds ${bytes.byteLength} bytes, but size is ${desc.size}`);
    }
    const actual = digestOf(bytes, parseDigest(desc.digest).algorithm);
    if (actual !== desc.digest) {
      fail(`${path}.data`, `digest is ${actual}, but descriptor says ${desc.digest}`);
    }
    desc.data = data;
  }
  return desc;
}

/** Validates a digest field, naming the path in the error. */
export function digestField(value: unknown, path: string): Digest {
  try {
    return parseDigest(string(value, path)).digest;
  } catch (err) {
    if (err instanceof InvalidArgumentError && !err.message.startsWith(path)) {
      throw new InvalidArgumentError(`${path}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}
