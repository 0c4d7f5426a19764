import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fromSystemError, InvalidArgumentError } from "@strata/errdefs";

/** What a client presents to a registry or its token server. */
export interface Credentials {
  readonly username?: string;
  readonly password?: string;
  /** An OAuth2 refresh token (docker's `identitytoken`), exchanged at the token realm. */
  readonly identityToken?: string;
}

/** Finds the credentials for a registry host (`ghcr.io`, `127.0.0.1:5000`). */
export type CredentialLookup = (
  host: string,
) => Credentials | undefined | Promise<Credentials | undefined>;

/** Options of {@link loadDockerConfig}. */
export interface LoadDockerConfigOptions {
  /** The config file; default `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
  path?: string;
  signal?: AbortSignal;
}

/** The path of docker's `config.json` as docker computes it. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG;
  return join(dir !== undefined && dir !== "" ? dir : join(homedir(), ".docker"), "config.json");
}

// Docker Hub credentials are stored under any of these keys.
const DOCKER_HUB_KEYS = ["index.docker.io", "docker.io", "registry-1.docker.io"];

function normalizeKey(key: string): string {
  let host = key.replace(/^[a-z]+:\/\//i, "");
  const slash = host.indexOf("/");
  if (slash !== -1) host = host.slice(0, slash);
  host = host.toLowerCase();
  return DOCKER_HUB_KEYS.includes(host) ? "docker.io" : host;
}

/**
 * Parses the `auths` section of a docker `config.json` text into a lookup.
 * Entries may hold `auth` (base64 `user:password`), `username`/`password`
 * and `identitytoken`. Credential helpers (`credsStore`, `credHelpers`) are
 * not run: their hosts get no credentials from here.
 *
 * @throws {InvalidArgumentError} on text that is not JSON or on a malformed `auth`.
 */
export function parseDockerConfig(text: string, source = "docker config"): CredentialLookup {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new InvalidArgumentError(`cannot parse ${source}: not JSON`, { cause });
  }
  const table = new Map<string, Credentials>();
  const auths = (doc as { auths?: unknown } | null)?.auths;
  if (auths !== null && typeof auths === "object") {
    for (const [key, raw] of Object.entries(auths as Record<string, unknown>)) {
      if (raw === null || typeof raw !== "object") continue;
      const entry = raw as Record<string, unknown>;
      const creds: { username?: string; password?: string; identityToken?: string } = {};
      if (typeof entry.auth === "string" && entry.auth !== "") {
        const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        if (colon === -1) {
          throw new InvalidArgumentError(
            `cannot parse ${source}: auth of ${JSON.stringify(key)} is not base64 "user:password"`,
          );
        }
        creds.username = decoded.slice(0, colon);
        creds.password = decoded.slice(colon + 1);
      }
      if (typeof entry.username === "string" && entry.username !== "") {
        creds.username = entry.username;
      }
      if (typeof entry.password === "string" && entry.password !== "") {
        creds.password = entry.password;
      }
      if (typeof entry.identitytoken === "string" && entry.identitytoken !== "") {
        creds.identityToken = entry.identitytoken;
      }
      if (Object.keys(creds).length > 0) table.set(normalizeKey(key), creds);
    }
  }
  return (host: string) => table.get(normalizeKey(host));
}

/**
 * Reads docker's `config.json` (from `options.path`, `$DOCKER_CONFIG` or
 * `~/.docker`) into a credential lookup. A missing file means no credentials.
 *
 * @throws {InvalidArgumentError} when the file is not valid JSON.
 * @throws {PermissionDeniedError} when the file cannot be read.
 *
 * @example
 * ```ts
 * const client = new RegistryClient({ credentials: await loadDockerConfig() });
 * ```
 */
export async function loadDockerConfig(
  options?: LoadDockerConfigOptions,
): Promise<CredentialLookup> {
  const path = options?.path ?? dockerConfigPath();
  let text: string;
  try {
    text = await readFile(
      path,
      options?.signal === undefined
        ? { encoding: "utf8" }
        : { encoding: "utf8", signal: options.signal },
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return () => undefined;
    throw fromSystemError(err, `cannot read docker config ${path}`);
  }
  return parseDockerConfig(text, path);
}
