import { ERROR_BRAND, InvalidArgumentError, UnavailableError } from "@strata/errdefs";
import type { Authenticator } from "./_auth.ts";
import { backoffDelay, type RetryPolicy, sleep } from "./_backoff.ts";
import { errorForStatus, readErrorBody, redactUrl } from "./_errors.ts";

export type Method = "GET" | "HEAD" | "PUT" | "POST" | "PATCH" | "DELETE";

export interface RequestSpec {
  readonly method: Method;
  /** The registry host the request is for (auth state is kept per host). */
  readonly host: string;
  /** A path (`/v2/...`) on the registry, or an absolute URL (an upload Location). */
  readonly target: string;
  readonly headers?: Record<string, string>;
  /** A byte body can be sent again; a stream body makes the request single-shot. */
  readonly body?: Uint8Array | AsyncIterable<Uint8Array>;
  /** The token scopes the request needs (`repository:a/b:pull`). */
  readonly scopes: readonly string[];
  /** Whether the request may be repeated after a network error, 429 or 5xx. */
  readonly idempotent: boolean;
  /** Statuses that count as success; others become errdefs errors. */
  readonly expect: readonly number[];
  readonly signal?: AbortSignal | undefined;
}

export interface TransportOptions {
  readonly insecure: readonly string[];
  readonly retry: RetryPolicy;
  readonly userAgent: string;
  readonly auth: Authenticator;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

/** The bare host name of `host[:port]` (IPv6 keeps its brackets). */
function hostname(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const colon = host.lastIndexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}

/**
 * Sends registry requests: picks the scheme, adds authorization, follows
 * redirects by hand (never carrying credentials to another host), retries
 * idempotent requests with backoff, and maps failures to errdefs errors.
 */
export class Transport {
  readonly #options: TransportOptions;

  constructor(options: TransportOptions) {
    this.#options = options;
  }

  get retry(): RetryPolicy {
    return this.#options.retry;
  }

  /** `https://host`, or `http://host` for loopback and hosts marked insecure. */
  baseUrl(host: string): string {
    const plain =
      LOOPBACK.has(hostname(host)) ||
      this.#options.insecure.includes(host) ||
      this.#options.insecure.includes(hostname(host));
    return `${plain ? "http" : "https"}://${host}`;
  }

  /** Sends `spec`; resolves to a response whose status is in `spec.expect`, body unread. */
  async request(spec: RequestSpec): Promise<Response> {
    const { retry, auth } = this.#options;
    const replayable = spec.body === undefined || spec.body instanceof Uint8Array;
    let url = spec.target.startsWith("/")
      ? `${this.baseUrl(spec.host)}${spec.target}`
      : spec.target;
    try {
      new URL(url);
    } catch (cause) {
      throw new InvalidArgumentError(`invalid registry URL ${JSON.stringify(url)}`, { cause });
    }
    let attempt = 0;
    let authRetried = false;
    for (;;) {
      spec.signal?.throwIfAborted();
      let res: Response;
      let sent: string | undefined;
      try {
        sent = await auth.authorization(spec.host, spec.scopes, spec.signal);
        ({ res, url } = await this.#send(spec, url, sent));
      } catch (cause) {
        spec.signal?.throwIfAborted();
        if (isStrataError(cause)) throw cause;
        if (spec.idempotent && replayable && attempt < retry.retries) {
          await sleep(backoffDelay(retry, attempt++), spec.signal);
          continue;
        }
        throw new UnavailableError(
          `${spec.method} ${redactUrl(url)}: ${describeNetworkError(cause)}`,
          { cause },
        );
      }
      if (spec.expect.includes(res.status)) return res;
      if (res.status === 401 && !authRetried && replayable) {
        authRetried = true;
        const again = await auth.challenged(
          spec.host,
          res.headers.get("www-authenticate"),
          spec.scopes,
          sent,
        );
        if (again) {
          await res.body?.cancel().catch(() => {});
          continue;
        }
      }
      if (
        (res.status === 429 || res.status >= 500) &&
        spec.idempotent &&
        replayable &&
        attempt < retry.retries
      ) {
        await res.body?.cancel().catch(() => {});
        await sleep(backoffDelay(retry, attempt++, res.headers.get("retry-after")), spec.signal);
        continue;
      }
      const body = spec.method === "HEAD" ? "" : await readErrorBody(res);
      throw errorForStatus(spec.method, url, res.status, res.statusText, body);
    }
  }

  async #send(
    spec: RequestSpec,
    start: string,
    authorization: string | undefined,
  ): Promise<{ res: Response; url: string }> {
    const origin = new URL(start).host;
    let url = start;
    let method: Method = spec.method;
    let body = spec.body;
    let withCredentials = true;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = {
        "user-agent": this.#options.userAgent,
        ...spec.headers,
      };
      if (withCredentials && authorization !== undefined) headers.authorization = authorization;
      if (body === undefined) delete headers["content-type"];
      const init: RequestInit & { duplex?: "half" } = { method, headers, redirect: "manual" };
      if (body !== undefined) {
        if (body instanceof Uint8Array) {
          init.body = body as NonNullable<RequestInit["body"]>;
        } else {
          init.body = streamOf(body);
          init.duplex = "half";
        }
      }
      if (spec.signal !== undefined) init.signal = spec.signal;
      const res = await fetch(url, init);
      const location = res.headers.get("location");
      if (!REDIRECTS.has(res.status) || location === null || spec.expect.includes(res.status)) {
        return { res, url };
      }
      await res.body?.cancel().catch(() => {});
      if (hop >= MAX_REDIRECTS) {
        throw new UnavailableError(`${spec.method} ${redactUrl(start)}: too many redirects`);
      }
      url = new URL(location, url).toString();
      // Credentials are for the registry: a redirect elsewhere (blob storage,
      // a CDN) must not receive them, nor any later hop.
      if (new URL(url).host !== origin) withCredentials = false;
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === "POST")) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = undefined;
      }
    }
  }
}

// fetch copies every chunk of an async iterable body (into a new
// Uint8Array, then again in a byte stream); a plain ReadableStream of the
// chunks is sent as it is.
function streamOf(body: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await iterator.next();
      if (done === true) controller.close();
      else if (value.byteLength > 0) controller.enqueue(value);
    },
    async cancel(reason) {
      await iterator.return?.(reason);
    },
  });
}

function isStrataError(err: unknown): boolean {
  return typeof err === "object" && err !== null && ERROR_BRAND in err;
}

/** undici hides the useful part (ECONNREFUSED, "other side closed") in `cause`. */
export function describeNetworkError(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; i < 4 && e instanceof Error; i++) {
    const code = (e as NodeJS.ErrnoException).code;
    parts.push(
      code !== undefined && !e.message.includes(code) ? `${e.message} (${code})` : e.message,
    );
    e = e.cause;
  }
  return parts.length > 0 ? parts.join(": ") : String(err);
}
