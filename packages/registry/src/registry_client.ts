import { InvalidArgumentError } from "@strata/errdefs";
import { Authenticator } from "./_auth.ts";
import { type RetryOptions, retryPolicy } from "./_backoff.ts";
import type { Descriptor } from "./_oci.ts";
import { Transport } from "./_transport.ts";
import type { CredentialLookup } from "./docker_config.ts";
import { formatReference, parseReference, type Reference, registryEndpoint } from "./reference.ts";
import { Repository } from "./repository.ts";

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /**
   * Where credentials come from; default none. `await loadDockerConfig()`
   * reads docker's `config.json`.
   */
  credentials?: CredentialLookup;
  /**
   * Hosts (`host` or `host:port`) reached over plain HTTP. Loopback hosts
   * (`localhost`, `127.0.0.1`, `[::1]`) always are; everything else is HTTPS.
   */
  insecure?: readonly string[];
  /** Retries of idempotent requests; default 4 retries, 200 ms doubling to 10 s. */
  retry?: RetryOptions;
  /**
   * Upload large blobs in PATCH requests of this size. Default: none, one
   * PATCH streams the whole blob (as skopeo and containerd do), which keeps
   * the registry's per-request work to one request per blob.
   */
  chunkSize?: number;
  /** Blobs up to this size are read into memory and uploaded with one PUT; default 16 MiB. */
  monolithicMax?: number;
  /** The largest manifest fetched; default 4 MiB. */
  maxManifestBytes?: number;
  /** Sent as User-Agent. */
  userAgent?: string;
}

/** What {@link RegistryClient.resolve} found. */
export interface Resolved {
  /** The full reference, normalized (`docker.io/library/alpine:latest`). */
  readonly name: string;
  /** The manifest or index the reference names. */
  readonly descriptor: Descriptor;
}

/**
 * A client of OCI distribution-spec registries (Docker Hub, GHCR, ECR, the
 * reference `registry:2`...). One client holds the credentials, the token
 * cache and the retry policy; {@link RegistryClient.repository} gives the
 * per-repository operations.
 *
 * @example
 * ```ts
 * const client = new RegistryClient({ credentials: await loadDockerConfig() });
 * const { name, descriptor } = await client.resolve("ghcr.io/acme/app:v1");
 * const repo = client.repository(name);
 * const manifest = await repo.fetchManifest(descriptor);
 * ```
 */
export class RegistryClient {
  readonly #transport: Transport;
  readonly #chunkSize: number | undefined;
  readonly #monolithicMax: number;
  readonly #maxManifestBytes: number;

  /** @throws {InvalidArgumentError} on a chunk size or manifest limit below 1. */
  constructor(options?: RegistryClientOptions) {
    const userAgent = options?.userAgent ?? "strata-registry/0.0.0";
    this.#chunkSize = options?.chunkSize;
    this.#monolithicMax = options?.monolithicMax ?? Math.min(this.#chunkSize ?? 16 << 20, 16 << 20);
    this.#maxManifestBytes = options?.maxManifestBytes ?? 4 << 20;
    for (const [key, value] of [
      ["chunkSize", this.#chunkSize ?? 1],
      ["maxManifestBytes", this.#maxManifestBytes],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new InvalidArgumentError(`invalid registry client option ${key}: ${value}`);
      }
    }
    if (!Number.isSafeInteger(this.#monolithicMax) || this.#monolithicMax < 0) {
      throw new InvalidArgumentError(
        `invalid registry client option monolithicMax: ${this.#monolithicMax}`,
      );
    }
    this.#transport = new Transport({
      insecure: options?.insecure ?? [],
      retry: retryPolicy(options?.retry),
      userAgent,
      auth: new Authenticator(options?.credentials ?? (() => undefined), userAgent),
    });
  }

  /**
   * The repository a reference names; its tag and digest are ignored.
   *
   * @throws {InvalidArgumentError} on a malformed reference.
   */
  repository(ref: string | Reference): Repository {
    const parsed = typeof ref === "string" ? parseReference(ref) : ref;
    return new Repository({
      transport: this.#transport,
      registry: parsed.registry,
      host: registryEndpoint(parsed.registry),
      name: parsed.repository,
      chunkSize: this.#chunkSize,
      monolithicMax: this.#monolithicMax,
      maxManifestBytes: this.#maxManifestBytes,
    });
  }

  /**
   * Resolves a reference (by digest when it has one, else by tag) to the
   * descriptor of its manifest or index.
   *
   * @throws {InvalidArgumentError} on a malformed reference.
   * @throws {NotFoundError} when the registry has no such manifest.
   * @throws {DataLossError} when the manifest bytes do not match the digest.
   */
  async resolve(ref: string, options?: { signal?: AbortSignal }): Promise<Resolved> {
    const parsed = parseReference(ref);
    const repo = this.repository(parsed);
    const descriptor = await repo.resolve(parsed.digest ?? parsed.tag ?? "latest", options);
    return { name: formatReference(parsed), descriptor };
  }
}
