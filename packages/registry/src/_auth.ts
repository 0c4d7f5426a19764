import { UnauthenticatedError, UnavailableError } from "@strata/errdefs";
import { type Challenge, parseChallenges } from "./_challenge.ts";
import { errorForStatus, readErrorBody } from "./_errors.ts";
import type { CredentialLookup, Credentials } from "./docker_config.ts";

interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

// Tokens without `expires_in` live 60 s (the distribution token spec default).
const DEFAULT_TOKEN_LIFETIME = 60;

/**
 * Answers registry challenges: remembers per host whether it wants Basic or
 * Bearer, fetches bearer tokens from the challenge's realm, and caches them
 * per (host, service, scopes) until shortly before they expire.
 */
export class Authenticator {
  readonly #credentials: CredentialLookup;
  readonly #userAgent: string;
  readonly #challenges = new Map<string, Challenge>();
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<CachedToken>>();

  constructor(credentials: CredentialLookup, userAgent: string) {
    this.#credentials = credentials;
    this.#userAgent = userAgent;
  }

  /** The Authorization value for a request to `host` needing `scopes`, if the host asked for one. */
  async authorization(
    host: string,
    scopes: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const challenge = this.#challenges.get(host);
    if (challenge === undefined) return undefined;
    if (challenge.scheme === "basic") {
      const creds = await this.#credentials(host);
      return basicHeader(creds);
    }
    const token = await this.#token(host, challenge, scopes, signal);
    return token === "" ? undefined : `Bearer ${token}`;
  }

  /**
   * Takes in a 401's challenge. Returns true when a retry can present
   * something new (a first or a fresh token, credentials the host now asks
   * for); false when retrying would only repeat the failure.
   */
  async challenged(
    host: string,
    header: string | null,
    scopes: readonly string[],
    sent: string | undefined,
  ): Promise<boolean> {
    const challenges = parseChallenges(header ?? "");
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm !== undefined);
    const basic = challenges.find((c) => c.scheme === "basic");
    const previous = this.#challenges.get(host);
    if (bearer !== undefined) {
      this.#challenges.set(host, bearer);
      // A refused token is dropped, so the retry asks for a new one.
      this.#tokens.delete(tokenKey(host, bearer, scopes));
      return true;
    }
    if (basic !== undefined) {
      this.#challenges.set(host, basic);
      const creds = await this.#credentials(host);
      if (basicHeader(creds) === undefined) return false;
      return previous?.scheme !== "basic" || !sent?.startsWith("Basic ");
    }
    return false;
  }

  async #token(
    host: string,
    challenge: Challenge,
    scopes: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const key = tokenKey(host, challenge, scopes);
    const cached = this.#tokens.get(key);
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached.token;
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#fetchToken(host, challenge, scopes, signal).finally(() =>
        this.#pending.delete(key),
      );
      this.#pending.set(key, pending);
    }
    const token = await pending;
    this.#tokens.set(key, token);
    return token.token;
  }

  async #fetchToken(
    host: string,
    challenge: Challenge,
    scopes: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<CachedToken> {
    const realm = challenge.params.realm ?? "";
    const service = challenge.params.service;
    const allScopes = [...new Set(scopes)].sort();
    const creds = await this.#credentials(host);
    const url = new URL(realm);
    const headers: Record<string, string> = { "user-agent": this.#userAgent };
    let init: RequestInit;
    if (creds?.identityToken !== undefined) {
      // OAuth2 refresh-token grant, as docker does with an identity token.
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds.identityToken,
        client_id: "strata",
      });
      if (service !== undefined) form.set("service", service);
      if (allScopes.length > 0) form.set("scope", allScopes.join(" "));
      headers["content-type"] = "application/x-www-form-urlencoded";
      init = { method: "POST", headers, body: form.toString() };
    } else {
      if (service !== undefined) url.searchParams.set("service", service);
      for (const scope of allScopes) url.searchParams.append("scope", scope);
      const basic = basicHeader(creds);
      if (basic !== undefined) headers.authorization = basic;
      init = { method: "GET", headers };
    }
    let res: Response;
    try {
      res = await fetch(url, { ...init, redirect: "follow", ...(signal ? { signal } : {}) });
    } catch (cause) {
      signal?.throwIfAborted();
      throw new UnavailableError(`cannot get a token for ${host} from ${realm}: ${String(cause)}`, {
        cause,
      });
    }
    if (!res.ok) {
      const body = await readErrorBody(res);
      const cause = errorForStatus(init.method ?? "GET", realm, res.status, res.statusText, body);
      if (res.status === 401 || res.status === 403) {
        throw new UnauthenticatedError(
          `token server ${realm} refused access to ${allScopes.join(" ") || host}: ${cause.message}`,
          { cause },
        );
      }
      throw cause;
    }
    const doc = (await res.json()) as {
      token?: unknown;
      access_token?: unknown;
      expires_in?: unknown;
    };
    const token =
      typeof doc.token === "string" && doc.token !== ""
        ? doc.token
        : typeof doc.access_token === "string"
          ? doc.access_token
          : "";
    if (token === "") {
      throw new UnauthenticatedError(`token server ${realm} answered without a token for ${host}`);
    }
    const lifetime =
      typeof doc.expires_in === "number" && doc.expires_in > 0
        ? doc.expires_in
        : DEFAULT_TOKEN_LIFETIME;
    // Renew a little early so a token does not expire on the way.
    return { token, expiresAt: Date.now() + lifetime * 1000 * 0.9 };
  }
}

function basicHeader(creds: Credentials | undefined): string | undefined {
  if (creds?.username === undefined || creds.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}`;
}

function tokenKey(host: string, challenge: Challenge, scopes: readonly string[]): string {
  return `${host}\n${challenge.params.realm}\n${challenge.params.service ?? ""}\n${[...scopes].sort().join(" ")}`;
}
