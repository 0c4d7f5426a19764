/**
 * An OCI distribution-spec client on `fetch`: resolve references, fetch
 * manifests and blobs as verified streams (with ranged resume), push blobs
 * (monolithic, chunked, cross-repository mount) and manifests, a lazy
 * content `Provider` over a repository, and registry auth (bearer tokens,
 * basic, docker `config.json`).
 *
 * @example
 * ```ts
 * import { loadDockerConfig, RegistryClient } from "@strata/registry";
 *
 * const client = new RegistryClient({ credentials: await loadDockerConfig() });
 * const { name, descriptor } = await client.resolve("alpine:3.20");
 * const manifest = await client.repository(name).fetchManifest(descriptor);
 * ```
 *
 * @module
 */
export type { RetryOptions } from "./_backoff.ts";
export {
  type CredentialLookup,
  type Credentials,
  dockerConfigPath,
  type LoadDockerConfigOptions,
  loadDockerConfig,
  parseDockerConfig,
} from "./docker_config.ts";
export {
  DEFAULT_REGISTRY,
  DEFAULT_TAG,
  formatReference,
  parseReference,
  type Reference,
  registryEndpoint,
} from "./reference.ts";
export { RegistryClient, type RegistryClientOptions, type Resolved } from "./registry_client.ts";
export { RemoteProvider, type RemoteProviderOptions } from "./remote_provider.ts";
export {
  type BlobSource,
  type FetchBlobOptions,
  MANIFEST_ACCEPT,
  type PushBlobOptions,
  type PushBlobResult,
  Repository,
  type RepositoryInit,
} from "./repository.ts";
