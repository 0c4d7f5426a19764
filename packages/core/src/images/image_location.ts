import { resolve } from "node:path";
import { InvalidArgumentError } from "@strata/errdefs";
import { formatReference, parseReference, type Reference } from "@strata/registry";

/**
 * Where an image is written to or read from: an OCI image layout directory
 * (`oci:DIR[:TAG]`) or a registry repository (`registry:HOST/REPO[:TAG|@DIGEST]`).
 */
export type ImageLocation =
  | {
      kind: "oci";
      /** The layout directory, absolute. */
      dir: string;
      /** The `org.opencontainers.image.ref.name`; undefined when not given. */
      tag: string | undefined;
    }
  | { kind: "registry"; reference: Reference };

// The tag grammar of org.opencontainers.image.ref.name, without "/" (which
// would make `oci:a:b/c` ambiguous with a directory named `a:b/c`).
const OCI_TAG = /^[A-Za-z0-9]+(?:(?:[-._@+]|--)[A-Za-z0-9]+)*$/;

/**
 * Parses the CLI form of an image location. For `oci:`, the text after the
 * last `:` is the tag when it is a valid tag; otherwise the whole text is the
 * directory. `registry:` references follow docker's grammar (no host means
 * docker.io; no tag means `latest`).
 *
 * @throws {InvalidArgumentError} for another scheme, an empty directory or a malformed reference.
 *
 * @example
 * ```ts
 * parseImageLocation("oci:/tmp/img:v1"); // { kind: "oci", dir: "/tmp/img", tag: "v1" }
 * parseImageLocation("registry:127.0.0.1:5000/app:v1");
 * ```
 */
export function parseImageLocation(text: string): ImageLocation {
  if (text.startsWith("oci:")) {
    const rest = text.slice(4);
    const colon = rest.lastIndexOf(":");
    let dir = rest;
    let tag: string | undefined;
    if (colon >= 0 && OCI_TAG.test(rest.slice(colon + 1))) {
      dir = rest.slice(0, colon);
      tag = rest.slice(colon + 1);
    }
    if (dir === "") {
      throw new InvalidArgumentError(
        `invalid image location ${JSON.stringify(text)}: empty directory`,
      );
    }
    return { kind: "oci", dir: resolve(dir), tag };
  }
  if (text.startsWith("registry:")) {
    const ref = text.slice("registry:".length);
    try {
      return { kind: "registry", reference: parseReference(ref) };
    } catch (err) {
      throw new InvalidArgumentError(
        `invalid image location ${JSON.stringify(text)}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  throw new InvalidArgumentError(
    `invalid image location ${JSON.stringify(text)}: want oci:DIR[:TAG] or registry:HOST/REPO[:TAG]`,
  );
}

/** The canonical text of a location (`oci:/abs/dir:tag`, `registry:host/repo:tag`). */
export function formatImageLocation(location: ImageLocation): string {
  if (location.kind === "oci") {
    return `oci:${location.dir}${location.tag === undefined ? "" : `:${location.tag}`}`;
  }
  return `registry:${formatReference(location.reference)}`;
}
