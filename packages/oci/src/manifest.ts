import { InvalidArgumentError, NotImplementedError } from "@strata/errdefs";
import {
  array,
  fail,
  type JsonObject,
  kindOf,
  mediaType,
  object,
  optional,
  optStringMap,
} from "./_validate.ts";
import { type Descriptor, validateDescriptor } from "./descriptor.ts";
import { type ParseOptions, parseJsonDocument } from "./json.ts";
import { baseMediaType, MediaType } from "./media_types.ts";

/** An OCI image manifest or a Docker schema 2 manifest. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An OCI image index or a Docker manifest list. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

function schemaVersion(obj: JsonObject, path: string): 2 {
  const v = obj.schemaVersion;
  if (v === 1) {
    throw new NotImplementedError(
      `${path}.schemaVersion: Docker schema 1 manifests are not supported`,
    );
  }
  if (v !== 2) fail(`${path}.schemaVersion`, `must be 2, got ${JSON.stringify(v) ?? kindOf(v)}`);
  return 2;
}

function common(
  obj: JsonObject,
  path: string,
  allowed: readonly string[],
  target: {
    mediaType?: string;
    artifactType?: string;
    subject?: Descriptor;
    annotations?: Record<string, string>;
  },
): void {
  const mt = optional(obj, "mediaType");
  if (mt !== undefined) {
    const m = mediaType(mt, `${path}.mediaType`);
    if (!allowed.includes(baseMediaType(m))) {
      fail(`${path}.mediaType`, `must be one of ${allowed.join(", ")}, got ${JSON.stringify(m)}`);
    }
    target.mediaType = m;
  }
  const at = optional(obj, "artifactType");
  if (at !== undefined) target.artifactType = mediaType(at, `${path}.artifactType`);
  const subject = optional(obj, "subject");
  if (subject !== undefined) target.subject = validateDescriptor(subject, `${path}.subject`);
  const annotations = optStringMap(obj, "annotations", path);
  if (annotations !== undefined) target.annotations = annotations;
}

/**
 * Validates an already-parsed image manifest (OCI or Docker schema 2) and
 * returns a clean copy (known fields only).
 *
 * @throws {InvalidArgumentError} naming the field path (`manifest.layers[2].digest: …`).
 * @throws {NotImplementedError} for Docker schema 1.
 */
export function validateManifest(value: unknown, path = "manifest"): ImageManifest {
  const obj = object(value, path);
  const version = schemaVersion(obj, path);
  if (obj.manifests !== undefined && obj.layers === undefined) {
    fail(path, "has a manifests field: this is an index, not a manifest");
  }
  const layers = array(obj.layers, `${path}.layers`).map((l, i) =>
    validateDescriptor(l, `${path}.layers[${i}]`),
  );
  const manifest: ImageManifest = {
    schemaVersion: version,
    config: validateDescriptor(obj.config, `${path}.config`),
    layers,
  };
  common(obj, path, [MediaType.OCI_MANIFEST, MediaType.DOCKER_MANIFEST], manifest);
  if (
    manifest.mediaType !== undefined &&
    baseMediaType(manifest.mediaType) === MediaType.DOCKER_MANIFEST
  ) {
    if (manifest.config.mediaType !== MediaType.DOCKER_CONFIG) {
      fail(
        `${path}.config.mediaType`,
        `a Docker schema 2 manifest needs ${MediaType.DOCKER_CONFIG}, got ${JSON.stringify(manifest.config.mediaType)}`,
      );
    }
  }
  return manifest;
}

/**
 * Validates an already-parsed image index (OCI index or Docker manifest list)
 * and returns a clean copy (known fields only).
 *
 * @throws {InvalidArgumentError} naming the field path (`index.manifests[0].size: …`).
 */
export function validateIndex(value: unknown, path = "index"): ImageIndex {
  const obj = object(value, path);
  const version = schemaVersion(obj, path);
  if (obj.manifests === undefined && obj.layers !== undefined) {
    fail(path, "has a layers field: this is a manifest, not an index");
  }
  const index: ImageIndex = {
    schemaVersion: version,
    manifests: array(obj.manifests, `${path}.manifests`).map((m, i) =>
      validateDescriptor(m, `${path}.manifests[${i}]`),
    ),
  };
  common(obj, path, [MediaType.OCI_INDEX, MediaType.DOCKER_MANIFEST_LIST], index);
  return index;
}

/**
 * Parses and validates an image manifest (OCI or Docker schema 2).
 *
 * @throws {ResourceExhaustedError} when the JSON is larger than `options.maxBytes` (default 4 MiB).
 * @throws {InvalidArgumentError} on invalid JSON or a field that breaks the spec.
 * @throws {NotImplementedError} for Docker schema 1.
 *
 * @example
 * ```ts
 * const manifest = parseManifest(bytes);
 * for (const layer of manifest.layers) console.log(layer.digest);
 * ```
 */
export function parseManifest(json: Uint8Array | string, options?: ParseOptions): ImageManifest {
  return validateManifest(parseJsonDocument(json, "manifest", options), "manifest");
}

/**
 * Parses and validates an image index (OCI index or Docker manifest list).
 *
 * @throws {ResourceExhaustedError} when the JSON is larger than `options.maxBytes` (default 4 MiB).
 * @throws {InvalidArgumentError} on invalid JSON or a field that breaks the spec.
 */
export function parseIndex(json: Uint8Array | string, options?: ParseOptions): ImageIndex {
  return validateIndex(parseJsonDocument(json, "index", options), "index");
}

const SCHEMA1 = new Set<string>([
  MediaType.DOCKER_MANIFEST_SCHEMA1,
  MediaType.DOCKER_MANIFEST_SCHEMA1_SIGNED,
]);

/**
 * Finds the media type of a manifest or index document: its `mediaType`
 * field when present, else by shape (`manifests` ⇒ OCI index, `config` and
 * `layers` ⇒ OCI manifest). The document is not validated further.
 *
 * @throws {NotImplementedError} for Docker schema 1 (schemaVersion 1 or its media types).
 * @throws {InvalidArgumentError} when the type cannot be told or the JSON is invalid.
 * @throws {ResourceExhaustedError} when the JSON is larger than `options.maxBytes`.
 */
export function detectManifestMediaType(json: Uint8Array | string, options?: ParseOptions): string {
  const obj = object(parseJsonDocument(json, "manifest", options), "manifest");
  const mt = optional(obj, "mediaType");
  if (obj.schemaVersion === 1 || (typeof mt === "string" && SCHEMA1.has(baseMediaType(mt)))) {
    throw new NotImplementedError("manifest: Docker schema 1 manifests are not supported");
  }
  if (mt !== undefined) return mediaType(mt, "manifest.mediaType");
  const hasManifests = Array.isArray(obj.manifests);
  const hasLayers = Array.isArray(obj.layers);
  if (hasManifests && !hasLayers) return MediaType.OCI_INDEX;
  if (hasLayers && !hasManifests && typeof obj.config === "object" && obj.config !== null) {
    return MediaType.OCI_MANIFEST;
  }
  throw new InvalidArgumentError(
    "manifest: cannot tell the media type: no mediaType field, and neither manifests nor config and layers",
  );
}
