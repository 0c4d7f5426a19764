import { InvalidArgumentError } from "@strata/errdefs";
import { type Digest, validateDigest } from "./_oci.ts";

/** The registry a reference without a host names. */
export const DEFAULT_REGISTRY = "docker.io";

/** The tag a reference without tag or digest names. */
export const DEFAULT_TAG = "latest";

/** A parsed image reference: `registry/repository[:tag][@digest]`. */
export interface Reference {
  /** The registry host as written (`docker.io`, `ghcr.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  /** The repository path inside the registry (`library/alpine`). */
  readonly repository: string;
  /** The tag; `latest` when the reference had neither tag nor digest. */
  readonly tag?: string;
  /** The digest, when the reference pins one. */
  readonly digest?: Digest;
}

// The docker reference grammar (distribution/reference), in our own regexps.
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const ID_RE = /^[a-f0-9]{64}$/;
const MAX_NAME_LENGTH = 255;

/**
 * Parses an image reference with docker's normalization: no host means
 * `docker.io`, a one-component Docker Hub path gets `library/`, and neither
 * tag nor digest means `latest`.
 *
 * @throws {InvalidArgumentError} when `ref` does not follow the grammar.
 *
 * @example
 * ```ts
 * parseReference("alpine");
 * // { registry: "docker.io", repository: "library/alpine", tag: "latest" }
 * parseReference("127.0.0.1:5000/team/app:v1@sha256:…");
 * ```
 */
export function parseReference(ref: string): Reference {
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`invalid reference ${JSON.stringify(ref)}: ${why}`);
  };
  if (typeof ref !== "string" || ref === "") fail("empty");
  let rest = ref;
  let digest: Digest | undefined;
  const at = rest.indexOf("@");
  if (at !== -1) {
    const value = rest.slice(at + 1);
    try {
      digest = validateDigest(value);
    } catch (cause) {
      throw new InvalidArgumentError(
        `invalid reference ${JSON.stringify(ref)}: bad digest ${JSON.stringify(value)}`,
        { cause },
      );
    }
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) fail(`bad tag ${JSON.stringify(tag)}`);
  }
  if (rest === "") fail("empty name");
  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const slash = rest.indexOf("/");
  if (slash !== -1) {
    const first = rest.slice(0, slash);
    // The first component is a host when it looks like one; otherwise the
    // whole name is a Docker Hub path.
    if (/[.:]/.test(first) || first === "localhost" || first.toLowerCase() !== first) {
      if (!DOMAIN_RE.test(first)) fail(`bad registry host ${JSON.stringify(first)}`);
      registry = first;
      path = rest.slice(slash + 1);
    }
  }
  if (registry === "index.docker.io") registry = DEFAULT_REGISTRY;
  if (!PATH_RE.test(path)) fail(`bad repository name ${JSON.stringify(path)}`);
  if (registry === DEFAULT_REGISTRY && !path.includes("/")) {
    if (ID_RE.test(path)) fail("a 64-hex name is an image ID, not a reference");
    path = `library/${path}`;
  }
  if (registry.length + 1 + path.length > MAX_NAME_LENGTH) {
    fail(`name longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return {
    registry,
    repository: path,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** Formats a reference in full: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/**
 * The host that serves a registry's API: `registry-1.docker.io` for Docker
 * Hub, the registry itself otherwise.
 */
export function registryEndpoint(registry: string): string {
  return registry === DEFAULT_REGISTRY ? "registry-1.docker.io" : registry;
}
