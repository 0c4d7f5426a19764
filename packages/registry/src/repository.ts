import {
  DataLossError,
  InvalidArgumentError,
  isDataLoss,
  ResourceExhaustedError,
  UnavailableError,
} from "@strata/errdefs";
import { backoffDelay, sleep } from "./_backoff.ts";
import {
  type Descriptor,
  type Digest,
  detectManifestMediaType,
  digestOf,
  MediaType,
  parseDigest,
  validateDigest,
  verifyStream,
} from "./_oci.ts";
import { describeNetworkError, type Transport } from "./_transport.ts";
import { RemoteProvider } from "./remote_provider.ts";

/** The manifest media types a registry is asked for, most wanted first. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OCI_MANIFEST,
  MediaType.OCI_INDEX,
  MediaType.DOCKER_MANIFEST,
  MediaType.DOCKER_MANIFEST_LIST,
];

const MANIFEST_TYPES = new Set(MANIFEST_ACCEPT);

/** A blob's bytes for {@link Repository.pushBlob}: a stream, or a function that opens one. */
export type BlobSource =
  | AsyncIterable<Uint8Array>
  | (() => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>);

/** What {@link Repository.pushBlob} did. */
export type PushBlobResult = "exists" | "mounted" | "uploaded";

/** Options of {@link Repository.pushBlob}. */
export interface PushBlobOptions {
  /** Another repository of the same registry holding the blob: tried as a cross-repository mount first. */
  mountFrom?: string;
  signal?: AbortSignal;
}

/** Options of {@link Repository.fetchBlob}. */
export interface FetchBlobOptions {
  /** Where to start; the digest is verified only when the whole blob is read. */
  offset?: number;
  /** How many bytes to read from `offset`; default to the end. */
  length?: number;
  signal?: AbortSignal;
}

/** The settings a {@link Repository} shares with its client. */
export interface RepositoryInit {
  readonly transport: Transport;
  /** The registry as references name it (`docker.io`, `127.0.0.1:5000`). */
  readonly registry: string;
  /** The host that serves its API (`registry-1.docker.io`). */
  readonly host: string;
  readonly name: string;
  /** PATCH chunk size; undefined: one streamed PATCH per blob. */
  readonly chunkSize: number | undefined;
  readonly monolithicMax: number;
  readonly maxManifestBytes: number;
}

/**
 * One repository of a registry: resolve, fetch and push manifests and blobs.
 * Made by {@link RegistryClient.repository}; it shares the client's
 * connections, credentials and token cache.
 */
export class Repository {
  /** The registry as references name it. */
  readonly registry: string;
  /** The repository path (`library/alpine`). */
  readonly name: string;
  readonly #init: RepositoryInit;

  constructor(init: RepositoryInit) {
    this.#init = init;
    this.registry = init.registry;
    this.name = init.name;
  }

  get #pull(): string[] {
    return [`repository:${this.name}:pull`];
  }

  /**
   * The descriptor of the manifest a tag or digest names: a HEAD request,
   * and a GET (whose body is hashed and checked against the registry's
   * `Docker-Content-Digest`) when the HEAD answer lacks the digest.
   *
   * @throws {NotFoundError} when there is no such manifest.
   * @throws {DataLossError} when the body's digest differs from what the registry or the reference says.
   * @throws {InvalidArgumentError} on a malformed tag or digest.
   */
  async resolve(reference: string, options?: { signal?: AbortSignal }): Promise<Descriptor> {
    const pinned = reference.includes(":") ? validateDigest(reference) : undefined;
    if (pinned === undefined && !/^[\w][\w.-]{0,127}$/.test(reference)) {
      throw new InvalidArgumentError(`invalid tag ${JSON.stringify(reference)}`);
    }
    const target = `/v2/${this.name}/manifests/${reference}`;
    const headers = { accept: MANIFEST_ACCEPT.join(", ") };
    const head = await this.#init.transport.request({
      method: "HEAD",
      host: this.#init.host,
      target,
      headers,
      scopes: this.#pull,
      idempotent: true,
      expect: [200],
      signal: options?.signal,
    });
    const headerDigest = head.headers.get("docker-content-digest") ?? undefined;
    const length = head.headers.get("content-length");
    const contentType = head.headers.get("content-type")?.split(";")[0]?.trim();
    const digest = pinned ?? headerDigest;
    if (
      digest !== undefined &&
      length !== null &&
      /^\d+$/.test(length) &&
      contentType !== undefined &&
      MANIFEST_TYPES.has(contentType)
    ) {
      return { mediaType: contentType, digest: validateDigest(digest), size: Number(length) };
    }
    const res = await this.#init.transport.request({
      method: "GET",
      host: this.#init.host,
      target,
      headers,
      scopes: this.#pull,
      idempotent: true,
      expect: [200],
      signal: options?.signal,
    });
    const bodyDigest = res.headers.get("docker-content-digest") ?? undefined;
    const type = res.headers.get("content-type")?.split(";")[0]?.trim();
    const bytes = await readBounded(res, this.#init.maxManifestBytes, `manifest ${reference}`);
    const expected = pinned ?? bodyDigest;
    const actual = digestOf(
      bytes,
      expected === undefined ? "sha256" : parseDigest(validateDigest(expected)).algorithm,
    );
    if (expected !== undefined && actual !== expected) {
      throw new DataLossError(
        `GET ${this.#init.transport.baseUrl(this.#init.host)}${target}: manifest digest is ${actual}, ${pinned === undefined ? "Docker-Content-Digest says" : "reference says"} ${expected}`,
      );
    }
    const mediaType =
      type !== undefined && MANIFEST_TYPES.has(type) ? type : detectManifestMediaType(bytes);
    if (mediaType === undefined) {
      throw new DataLossError(
        `manifest ${this.name}:${reference} is not an OCI or Docker manifest`,
      );
    }
    return { mediaType, digest: actual, size: bytes.byteLength };
  }

  /**
   * Fetches a manifest (or index) by its descriptor, verifying size and digest.
   *
   * @throws {NotFoundError} when the registry does not have it.
   * @throws {ResourceExhaustedError} when it exceeds `maxBytes` (default: the client's, 4 MiB).
   * @throws {DataLossError} when the bytes do not match the descriptor.
   */
  async fetchManifest(
    desc: Pick<Descriptor, "digest" | "size"> & { mediaType?: string },
    options?: { maxBytes?: number; signal?: AbortSignal },
  ): Promise<Uint8Array> {
    validateDigest(desc.digest);
    const maxBytes = options?.maxBytes ?? this.#init.maxManifestBytes;
    if (desc.size > maxBytes) {
      throw new ResourceExhaustedError(
        `manifest ${desc.digest} is too large (${desc.size} > ${maxBytes})`,
      );
    }
    const accept = [...new Set([desc.mediaType ?? MANIFEST_ACCEPT[0], ...MANIFEST_ACCEPT])];
    const res = await this.#init.transport.request({
      method: "GET",
      host: this.#init.host,
      target: `/v2/${this.name}/manifests/${desc.digest}`,
      headers: { accept: accept.join(", ") },
      scopes: this.#pull,
      idempotent: true,
      expect: [200],
      signal: options?.signal,
    });
    const bytes = await readBounded(res, desc.size, `manifest ${desc.digest}`);
    const actual = digestOf(bytes, parseDigest(desc.digest).algorithm);
    if (bytes.byteLength !== desc.size || actual !== desc.digest) {
      throw new DataLossError(
        `manifest ${this.name}@${desc.digest}: got ${bytes.byteLength} bytes with digest ${actual}, expected ${desc.size} bytes`,
      );
    }
    return bytes;
  }

  /**
   * Streams a blob. A connection dropped part-way is resumed with a Range
   * request from the last byte received (up to the client's retry count);
   * everything received is hashed, and a whole-blob read ends with a
   * DataLossError instead of a clean end when size or digest differ.
   * A partial read (`offset`/`length`) checks only the byte count.
   *
   * @throws {NotFoundError} when the registry does not have the blob.
   * @throws {DataLossError} on a digest or size mismatch.
   * @throws {UnavailableError} when the connection fails more often than retries allow.
   *
   * @example
   * ```ts
   * for await (const chunk of repo.fetchBlob(layer, { signal })) await writer.write(chunk);
   * ```
   */
  fetchBlob(
    desc: Pick<Descriptor, "digest" | "size">,
    options?: FetchBlobOptions,
  ): AsyncIterable<Uint8Array> {
    validateDigest(desc.digest);
    const offset = options?.offset ?? 0;
    const length = options?.length ?? desc.size - offset;
    if (
      !Number.isSafeInteger(desc.size) ||
      desc.size < 0 ||
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > desc.size
    ) {
      throw new InvalidArgumentError(
        `cannot fetch blob ${desc.digest}: range ${offset}+${length} outside size ${desc.size}`,
      );
    }
    const full = offset === 0 && length === desc.size;
    const source = this.#ranged(desc.digest, offset, length, full, options?.signal);
    if (!full) return source;
    return this.#named(
      verifyStream(source, desc, options?.signal ? { signal: options.signal } : {}),
      desc.digest,
    );
  }

  // Verification errors from @strata/oci do not say where the blob came from.
  async *#named(
    source: AsyncIterable<Uint8Array>,
    digest: Digest,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      yield* source;
    } catch (err) {
      if (isDataLoss(err)) {
        throw new DataLossError(
          `GET blob ${this.registry}/${this.name}@${digest}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  async *#ranged(
    digest: Digest,
    offset: number,
    length: number,
    full: boolean,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const { transport } = this.#init;
    const end = offset + length;
    let pos = offset;
    let failures = 0;
    if (length === 0 && !full) return;
    for (;;) {
      const headers: Record<string, string> = {};
      // The first request of a full read asks for everything, so a registry
      // without Range support still serves it.
      if (!full || pos > 0) headers.range = `bytes=${pos}-${end - 1}`;
      const res = await transport.request({
        method: "GET",
        host: this.#init.host,
        target: `/v2/${this.name}/blobs/${digest}`,
        headers,
        scopes: this.#pull,
        idempotent: true,
        expect: [200, 206],
        signal,
      });
      // A 200 to a ranged request is the whole blob: skip what we have.
      let skip = 0;
      if (headers.range !== undefined) {
        if (res.status === 206) {
          const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
          if (start === undefined || Number(start) !== pos) {
            await res.body?.cancel().catch(() => {});
            throw new DataLossError(
              `GET blob ${digest}: asked for bytes from ${pos}, got Content-Range ${JSON.stringify(res.headers.get("content-range"))}`,
            );
          }
        } else {
          skip = pos;
        }
      }
      const body = res.body;
      if (body === null) {
        if (pos === end) return;
        throw new DataLossError(`GET blob ${digest}: empty response at byte ${pos} of ${end}`);
      }
      let dropped: unknown;
      try {
        for await (const raw of body) {
          let chunk = raw as Uint8Array;
          if (skip > 0) {
            const n = Math.min(skip, chunk.byteLength);
            skip -= n;
            chunk = chunk.subarray(n);
            if (chunk.byteLength === 0) continue;
          }
          if (pos + chunk.byteLength > end) chunk = chunk.subarray(0, end - pos);
          if (chunk.byteLength > 0) {
            pos += chunk.byteLength;
            failures = 0;
            yield chunk;
          }
          if (pos >= end) break;
        }
      } catch (err) {
        signal?.throwIfAborted();
        dropped = err;
      } finally {
        await body.cancel().catch(() => {});
      }
      if (pos >= end) return;
      // Cut short: by an error, or by a body that ended early. Resume.
      if (failures >= transport.retry.retries) {
        throw new UnavailableError(
          `GET blob ${this.registry}/${this.name}@${digest}: connection lost at byte ${pos} of ${end}${dropped === undefined ? "" : `: ${describeNetworkError(dropped)}`}`,
          dropped === undefined ? undefined : { cause: dropped },
        );
      }
      await sleep(backoffDelay(transport.retry, failures++), signal);
    }
  }

  /**
   * The size of a blob in this repository, or undefined when it is not there.
   *
   * @throws {UnavailableError} (and the other mapped errors) when the registry fails.
   */
  async statBlob(
    digest: Digest,
    options?: { signal?: AbortSignal },
  ): Promise<{ digest: Digest; size: number } | undefined> {
    validateDigest(digest);
    const res = await this.#init.transport.request({
      method: "HEAD",
      host: this.#init.host,
      target: `/v2/${this.name}/blobs/${digest}`,
      scopes: this.#pull,
      idempotent: true,
      expect: [200, 404],
      signal: options?.signal,
    });
    await res.body?.cancel().catch(() => {});
    if (res.status === 404) return undefined;
    const length = res.headers.get("content-length");
    if (length === null || !/^\d+$/.test(length)) {
      throw new DataLossError(`HEAD blob ${digest}: no Content-Length in the answer`);
    }
    return { digest, size: Number(length) };
  }

  /**
   * A content `Provider` whose readers fetch byte ranges on demand, so a
   * layer can stay in the registry until something reads it.
   */
  provider(): RemoteProvider {
    return new RemoteProvider(this);
  }

  /**
   * Uploads a blob unless the repository has it: HEAD first, then a
   * cross-repository mount when `mountFrom` is given, then an upload, one
   * PUT for blobs up to the client's `monolithicMax`, else one PATCH that
   * streams the source (or PATCH chunks of the client's `chunkSize`), then
   * the closing PUT. The source is not read when the blob exists or
   * was mounted (a function source is not even called).
   *
   * @throws {InvalidArgumentError} when the source's size differs from `desc.size`.
   * @throws {InvalidArgumentError} when the registry rejects the digest (DIGEST_INVALID).
   * @throws {UnauthenticatedError | PermissionDeniedError} without push access.
   */
  async pushBlob(
    desc: Pick<Descriptor, "digest" | "size">,
    source: BlobSource,
    options?: PushBlobOptions,
  ): Promise<PushBlobResult> {
    validateDigest(desc.digest);
    if (!Number.isSafeInteger(desc.size) || desc.size < 0) {
      throw new InvalidArgumentError(`cannot push blob ${desc.digest}: invalid size ${desc.size}`);
    }
    const signal = options?.signal;
    if ((await this.statBlob(desc.digest, signal === undefined ? {} : { signal })) !== undefined) {
      return "exists";
    }
    const scopes = [`repository:${this.name}:pull,push`];
    if (options?.mountFrom !== undefined) scopes.push(`repository:${options.mountFrom}:pull`);
    const { transport, host } = this.#init;
    const query =
      options?.mountFrom === undefined
        ? ""
        : `?${new URLSearchParams({ mount: desc.digest, from: options.mountFrom })}`;
    const started = await transport.request({
      method: "POST",
      host,
      target: `/v2/${this.name}/blobs/uploads/${query}`,
      headers: { "content-length": "0" },
      scopes,
      idempotent: true,
      expect: [201, 202],
      signal,
    });
    await started.body?.cancel().catch(() => {});
    if (started.status === 201) return "mounted";
    let location = nextLocation(started, `POST /v2/${this.name}/blobs/uploads/`);
    const stream = typeof source === "function" ? await source() : source;
    try {
      if (desc.size <= this.#init.monolithicMax) {
        const bytes = await readSource(stream, desc.size, desc.digest);
        location = await this.#finish(location, desc.digest, bytes, scopes, signal);
      } else {
        location =
          this.#init.chunkSize === undefined
            ? await this.#streamed(location, desc, stream, scopes, signal)
            : await this.#chunks(location, desc, stream, this.#init.chunkSize, scopes, signal);
        location = await this.#finish(location, desc.digest, undefined, scopes, signal);
      }
    } catch (err) {
      // Best effort: free the registry's upload session.
      await transport
        .request({
          method: "DELETE",
          host,
          target: location,
          scopes,
          idempotent: false,
          expect: [204, 404],
        })
        .then((r) => r.body?.cancel())
        .catch(() => {});
      throw err;
    }
    return "uploaded";
  }

  // One PATCH whose body is the source, checked against the descriptor's
  // size as it goes: a longer source fails before the extra bytes are sent,
  // a shorter one fails before the upload is closed.
  async #streamed(
    location: string,
    desc: Pick<Descriptor, "digest" | "size">,
    stream: AsyncIterable<Uint8Array>,
    scopes: string[],
    signal: AbortSignal | undefined,
  ): Promise<string> {
    let sent = 0;
    let failure: Error | undefined;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of stream) {
        if (sent + chunk.byteLength > desc.size) {
          failure = new InvalidArgumentError(
            `cannot push blob ${desc.digest}: source has more than ${desc.size} bytes`,
          );
          throw failure;
        }
        sent += chunk.byteLength;
        yield chunk;
      }
      if (sent !== desc.size) {
        failure = new InvalidArgumentError(
          `cannot push blob ${desc.digest}: source has ${sent} bytes, descriptor says ${desc.size}`,
        );
        throw failure;
      }
    }
    let res: Response;
    try {
      res = await this.#init.transport.request({
        method: "PATCH",
        host: this.#init.host,
        target: location,
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `0-${desc.size - 1}`,
          "content-length": String(desc.size),
        },
        body: counted(),
        scopes,
        idempotent: false,
        expect: [202],
        signal,
      });
    } catch (err) {
      // The body's own error says more than the aborted request's.
      throw failure ?? err;
    }
    await res.body?.cancel().catch(() => {});
    if (failure !== undefined) throw failure;
    return nextLocation(res, `PATCH blob upload ${desc.digest}`);
  }

  async #chunks(
    location: string,
    desc: Pick<Descriptor, "digest" | "size">,
    stream: AsyncIterable<Uint8Array>,
    chunkSize: number,
    scopes: string[],
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const buffer = new Uint8Array(chunkSize);
    let filled = 0;
    let sent = 0;
    const flush = async (): Promise<void> => {
      const res = await this.#init.transport.request({
        method: "PATCH",
        host: this.#init.host,
        target: location,
        headers: {
          "content-type": "application/octet-stream",
          "content-range": `${sent}-${sent + filled - 1}`,
          "content-length": String(filled),
        },
        body: buffer.subarray(0, filled),
        scopes,
        idempotent: false,
        expect: [202],
        signal,
      });
      await res.body?.cancel().catch(() => {});
      location = nextLocation(res, `PATCH blob upload ${desc.digest}`);
      sent += filled;
      filled = 0;
    };
    for await (const chunk of stream) {
      let at = 0;
      while (at < chunk.byteLength) {
        if (sent + filled + (chunk.byteLength - at) > desc.size) {
          throw new InvalidArgumentError(
            `cannot push blob ${desc.digest}: source has more than ${desc.size} bytes`,
          );
        }
        const n = Math.min(buffer.byteLength - filled, chunk.byteLength - at);
        buffer.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === buffer.byteLength) await flush();
      }
    }
    if (filled > 0) await flush();
    if (sent !== desc.size) {
      throw new InvalidArgumentError(
        `cannot push blob ${desc.digest}: source has ${sent} bytes, descriptor says ${desc.size}`,
      );
    }
    return location;
  }

  async #finish(
    location: string,
    digest: Digest,
    bytes: Uint8Array | undefined,
    scopes: string[],
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const url = new URL(location);
    url.searchParams.set("digest", digest);
    const res = await this.#init.transport.request({
      method: "PUT",
      host: this.#init.host,
      target: url.toString(),
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(bytes?.byteLength ?? 0),
      },
      ...(bytes === undefined ? {} : { body: bytes }),
      scopes,
      idempotent: false,
      expect: [201],
      signal,
    });
    await res.body?.cancel().catch(() => {});
    const stored = res.headers.get("docker-content-digest");
    if (stored !== null && stored !== digest) {
      throw new DataLossError(`PUT blob ${digest}: the registry stored ${stored}`);
    }
    return location;
  }

  /**
   * Uploads a manifest or index under its digest, and under `tag` when given.
   * The bytes are checked against `desc` first.
   *
   * @throws {InvalidArgumentError} when the bytes do not match `desc`, or the registry rejects the manifest.
   * @throws {NotFoundError} (MANIFEST_BLOB_UNKNOWN) when a blob it names is missing.
   */
  async pushManifest(
    desc: Pick<Descriptor, "mediaType" | "digest" | "size">,
    bytes: Uint8Array,
    options?: { tag?: string; signal?: AbortSignal },
  ): Promise<void> {
    validateDigest(desc.digest);
    const actual = digestOf(bytes, parseDigest(desc.digest).algorithm);
    if (bytes.byteLength !== desc.size || actual !== desc.digest) {
      throw new InvalidArgumentError(
        `cannot push manifest ${desc.digest}: bytes are ${bytes.byteLength} long with digest ${actual}, descriptor says size ${desc.size}`,
      );
    }
    const tag = options?.tag;
    if (tag !== undefined && !/^[\w][\w.-]{0,127}$/.test(tag)) {
      throw new InvalidArgumentError(
        `cannot push manifest ${desc.digest}: invalid tag ${JSON.stringify(tag)}`,
      );
    }
    const res = await this.#init.transport.request({
      method: "PUT",
      host: this.#init.host,
      target: `/v2/${this.name}/manifests/${tag ?? desc.digest}`,
      headers: { "content-type": desc.mediaType },
      body: bytes,
      scopes: [`repository:${this.name}:pull,push`],
      idempotent: true,
      expect: [201],
      signal: options?.signal,
    });
    await res.body?.cancel().catch(() => {});
    const stored = res.headers.get("docker-content-digest");
    if (stored !== null && stored !== desc.digest) {
      throw new DataLossError(`PUT manifest ${desc.digest}: the registry stored ${stored}`);
    }
  }

  /**
   * The repository's tags, following `Link: <…>; rel="next"` pages.
   *
   * @throws {NotFoundError} when the repository does not exist.
   */
  async listTags(options?: { pageSize?: number; signal?: AbortSignal }): Promise<string[]> {
    const tags: string[] = [];
    let target: string | undefined =
      `/v2/${this.name}/tags/list${options?.pageSize === undefined ? "" : `?n=${options.pageSize}`}`;
    while (target !== undefined) {
      const res: Response = await this.#init.transport.request({
        method: "GET",
        host: this.#init.host,
        target,
        scopes: this.#pull,
        idempotent: true,
        expect: [200],
        signal: options?.signal,
      });
      const link = res.headers.get("link");
      const doc = JSON.parse(
        new TextDecoder().decode(await readBounded(res, this.#init.maxManifestBytes, "tag list")),
      ) as { tags?: unknown };
      if (Array.isArray(doc.tags))
        for (const t of doc.tags) if (typeof t === "string") tags.push(t);
      const next = link === null ? undefined : /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1];
      target = next === undefined ? undefined : new URL(next, res.url).toString();
    }
    return tags;
  }
}

function nextLocation(res: Response, what: string): string {
  const location = res.headers.get("location");
  if (location === null) {
    throw new DataLossError(`${what}: the registry answered ${res.status} without a Location`);
  }
  return new URL(location, res.url).toString();
}

async function readBounded(res: Response, max: number, what: string): Promise<Uint8Array> {
  const declared = res.headers.get("content-length");
  if (declared !== null && Number(declared) > max) {
    await res.body?.cancel().catch(() => {});
    throw new ResourceExhaustedError(`${what} is too large (${declared} > ${max} bytes)`);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  if (res.body !== null) {
    for await (const chunk of res.body) {
      total += (chunk as Uint8Array).byteLength;
      if (total > max) {
        await res.body.cancel().catch(() => {});
        throw new ResourceExhaustedError(`${what} is too large (more than ${max} bytes)`);
      }
      parts.push(chunk as Uint8Array);
    }
  }
  return Buffer.concat(parts, total);
}

async function readSource(
  stream: AsyncIterable<Uint8Array>,
  size: number,
  digest: Digest,
): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  for await (const chunk of stream) {
    if (at + chunk.byteLength > size) {
      throw new InvalidArgumentError(
        `cannot push blob ${digest}: source has more than ${size} bytes`,
      );
    }
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  if (at !== size) {
    throw new InvalidArgumentError(
      `cannot push blob ${digest}: source has ${at} bytes, descriptor says ${size}`,
    );
  }
  return out;
}
