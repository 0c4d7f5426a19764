import type { Provider } from "@strata/content";
import { OciLayoutProvider } from "@strata/content";
import {
  DataLossError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
} from "@strata/errdefs";
import {
  ANNOTATION_REF_NAME,
  type Descriptor,
  Digester,
  isIndexMediaType,
  isManifestMediaType,
  OciLayout,
  parseDigest,
} from "@strata/oci";
import type { Repository } from "@strata/registry";
import type { RegistryAccess } from "../cache/cache_ops.ts";
import { RegistryStreamProvider } from "./_registry_provider.ts";
import { formatImageLocation, type ImageLocation } from "./image_location.ts";
import { registryClient } from "./registry_access.ts";

/** The largest manifest, index or config read. */
export const MAX_DOCUMENT_BYTES: number = 4 << 20;

/** One chunk as a stream. */
export async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

type Signal = { signal?: AbortSignal };

/** Where an import reads from. */
export interface ImageSource {
  /** The canonical location text, recorded on the refs. */
  readonly name: string;
  /** The descriptor the location names (a manifest or an index). */
  resolve(options: Signal): Promise<Descriptor>;
  /** A small document (manifest, index, config), verified and capped. */
  readDocument(desc: Descriptor, options: Signal): Promise<Uint8Array>;
  /** Serves the layers. */
  readonly provider: Provider;
}

/** Where an export writes to. */
export interface ImageTarget {
  readonly name: string;
  /** Writes a blob unless the target has it; `open` is called only when needed. */
  putBlob(
    desc: Descriptor,
    open: () => Promise<AsyncIterable<Uint8Array>>,
    options: Signal,
  ): Promise<"exists" | "written">;
  /** Writes the manifest and points the tag at it. */
  putManifest(desc: Descriptor, bytes: Uint8Array, options: Signal): Promise<void>;
}

async function collect(
  stream: AsyncIterable<Uint8Array>,
  desc: Descriptor,
  what: string,
): Promise<Uint8Array> {
  if (desc.size > MAX_DOCUMENT_BYTES) {
    throw new ResourceExhaustedError(
      `${what} ${desc.digest} is too large (${desc.size} > ${MAX_DOCUMENT_BYTES} bytes)`,
    );
  }
  const out = new Uint8Array(desc.size);
  const digester = new Digester(parseDigest(desc.digest).algorithm);
  let at = 0;
  for await (const chunk of stream) {
    if (at + chunk.byteLength > desc.size) {
      throw new DataLossError(`${what} ${desc.digest}: more than its size ${desc.size} bytes`);
    }
    out.set(chunk, at);
    digester.update(chunk);
    at += chunk.byteLength;
  }
  if (at !== desc.size || digester.digest() !== desc.digest) {
    throw new DataLossError(
      `${what} ${desc.digest}: got ${at} bytes with digest ${digester.digest()}, expected ${desc.size} bytes`,
    );
  }
  return out;
}

async function ociSource(
  dir: string,
  tag: string | undefined,
  signal: Signal,
): Promise<ImageSource> {
  const layout = await OciLayout.open(dir, signal);
  return {
    name: formatImageLocation({ kind: "oci", dir, tag }),
    async resolve(options) {
      if (tag !== undefined) return layout.resolve(tag, options);
      const entries = (await layout.list(options)).filter(
        (d) => isManifestMediaType(d.mediaType) || isIndexMediaType(d.mediaType),
      );
      const latest = entries.find((d) => d.annotations?.[ANNOTATION_REF_NAME] === "latest");
      if (latest !== undefined) return latest;
      const only = entries.length === 1 ? entries[0] : undefined;
      if (only !== undefined) return only;
      throw new NotFoundError(
        `OCI layout ${dir}: no tag given, no "latest" and ${entries.length} images: name one as oci:${dir}:TAG`,
      );
    },
    async readDocument(desc, options) {
      return collect(layout.readBlobStream(desc.digest, options), desc, `blob of ${dir}`);
    },
    provider: new OciLayoutProvider(dir),
  };
}

async function registrySource(
  location: Extract<ImageLocation, { kind: "registry" }>,
  access: RegistryAccess | undefined,
  signal: Signal,
): Promise<ImageSource> {
  const ref = location.reference;
  const client = await registryClient(ref.registry, access, signal);
  const repo: Repository = client.repository(ref);
  return {
    name: formatImageLocation(location),
    resolve: (options) => repo.resolve(ref.digest ?? ref.tag ?? "latest", options),
    async readDocument(desc, options) {
      if (isManifestMediaType(desc.mediaType) || isIndexMediaType(desc.mediaType)) {
        return repo.fetchManifest(desc, { maxBytes: MAX_DOCUMENT_BYTES, ...options });
      }
      if (desc.size > MAX_DOCUMENT_BYTES) {
        throw new ResourceExhaustedError(
          `blob ${desc.digest} is too large (${desc.size} > ${MAX_DOCUMENT_BYTES} bytes)`,
        );
      }
      return collect(repo.fetchBlob(desc, options), desc, `blob of ${repo.registry}/${repo.name}`);
    },
    provider: new RegistryStreamProvider(repo),
  };
}

/**
 * Opens an import source.
 *
 * @throws {NotFoundError} when an OCI layout does not exist.
 */
export function openSource(
  location: ImageLocation,
  access: RegistryAccess | undefined,
  options: Signal,
): Promise<ImageSource> {
  return location.kind === "oci"
    ? ociSource(location.dir, location.tag, options)
    : registrySource(location, access, options);
}

/**
 * Opens an export target (creating an OCI layout when absent).
 *
 * @throws {InvalidArgumentError} for a registry reference with a digest.
 */
export async function openTarget(
  location: ImageLocation,
  access: RegistryAccess | undefined,
  options: Signal,
): Promise<ImageTarget> {
  if (location.kind === "oci") {
    const tag = location.tag ?? "latest";
    const layout = await OciLayout.create(location.dir, options);
    return {
      name: formatImageLocation({ ...location, tag }),
      async putBlob(desc, open, opts) {
        if (await layout.hasBlob(desc.digest, opts)) return "exists";
        await layout.putBlob(await open(), { digest: desc.digest, size: desc.size }, opts);
        return "written";
      },
      async putManifest(desc, bytes, opts) {
        await layout.putBlob(once(bytes), { digest: desc.digest, size: desc.size }, opts);
        await layout.tag(tag, desc, opts);
      },
    };
  }
  const ref = location.reference;
  if (ref.digest !== undefined) {
    throw new InvalidArgumentError(
      `cannot export to ${formatImageLocation(location)}: name a tag, not a digest`,
    );
  }
  const client = await registryClient(ref.registry, access, options);
  const repo = client.repository(ref);
  return {
    name: formatImageLocation(location),
    async putBlob(desc, open, opts) {
      const done = await repo.pushBlob(desc, open, opts);
      return done === "exists" ? "exists" : "written";
    },
    async putManifest(desc, bytes, opts) {
      await repo.pushManifest(desc, bytes, { tag: ref.tag ?? "latest", ...opts });
    },
  };
}
