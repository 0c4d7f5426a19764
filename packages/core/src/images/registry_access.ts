import { join } from "node:path";
import {
  type CredentialLookup,
  type Credentials,
  dockerConfigPath,
  loadDockerConfig,
  RegistryClient,
} from "@strata/registry";
import type { RegistryAccess } from "../cache/cache_ops.ts";

/**
 * Hosts listed in `$STRATA_INSECURE_REGISTRIES` (comma or space separated),
 * spoken to over plain HTTP.
 */
export function insecureRegistriesFromEnv(
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  return (env.STRATA_INSECURE_REGISTRIES ?? "").split(/[\s,]+/).filter((h) => h !== "");
}

/**
 * A registry client for `access`: plain HTTP for loopback and
 * `insecureHosts` (default: `$STRATA_INSECURE_REGISTRIES` of this process),
 * credentials from `username`/`password` for `host` (only that host), then
 * docker's `config.json` (`dockerConfig` directory, default `$DOCKER_CONFIG`
 * or `~/.docker`).
 *
 * @throws {InvalidArgumentError} when the docker config is not valid JSON.
 */
export async function registryClient(
  host: string,
  access: RegistryAccess = {},
  options: { signal?: AbortSignal } = {},
): Promise<RegistryClient> {
  let fromConfig: CredentialLookup = () => undefined;
  if (access.dockerConfig !== false) {
    const path =
      access.dockerConfig === undefined
        ? dockerConfigPath()
        : join(access.dockerConfig, "config.json");
    fromConfig = await loadDockerConfig({
      path,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }
  const given: Credentials | undefined =
    access.username !== undefined || access.password !== undefined
      ? {
          ...(access.username === undefined ? {} : { username: access.username }),
          ...(access.password === undefined ? {} : { password: access.password }),
        }
      : undefined;
  const credentials: CredentialLookup = (h) =>
    given !== undefined && h.toLowerCase() === host.toLowerCase() ? given : fromConfig(h);
  return new RegistryClient({
    credentials,
    insecure: access.insecureHosts ?? insecureRegistriesFromEnv(process.env),
    userAgent: "strata/0.0.0",
  });
}
