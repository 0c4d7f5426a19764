// Registries for the image e2e tests: Debian's reference registry
// (`docker-registry`) on a free loopback port with its own storage and an
// optional htpasswd (basic auth) gate; a reverse proxy in front of it that
// records every request (so a test can count uploads and blob fetches); and
// a hostile registry that speaks the distribution API badly on purpose, with
// a second "other host" that a redirect points to.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { rm } from "node:fs/promises";
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { promisify } from "node:util";
import {
  makeTokenKeys,
  startRegistry as startReferenceRegistry,
  startTokenServer,
  type TestRegistry,
  type TokenRequest,
} from "@strata/registry/testing";

const exec = promisify(execFile);

export { freePort, REGISTRY_BINARY, type TokenRequest } from "@strata/registry/testing";

/** A user of the htpasswd gate. */
export interface Credentials {
  username: string;
  password: string;
}

/** A running `docker-registry` (the shared launcher's). */
export type Registry = TestRegistry;

/** A bcrypt htpasswd line made by `htpasswd -nbB` (apache2-utils). */
export async function htpasswdLine(user: Credentials): Promise<string> {
  try {
    const { stdout } = await exec("htpasswd", ["-nbB", user.username, user.password]);
    return stdout.trim();
  } catch (err) {
    throw new Error("htpasswd failed: install apache2-utils (.ci/run installs it)", {
      cause: err,
    });
  }
}

/**
 * Starts the reference registry on a free port of 127.0.0.1 with storage in
 * a fresh temporary directory, and waits until `/v2/` answers. With `users`,
 * every request needs basic auth (the registry's htpasswd backend).
 */
export async function startRegistry(
  options: { users?: readonly Credentials[] } = {},
): Promise<Registry> {
  const htpasswd =
    options.users === undefined
      ? undefined
      : (await Promise.all(options.users.map(htpasswdLine))).join("\n");
  return startReferenceRegistry(htpasswd === undefined ? {} : { htpasswd });
}

/** A registry behind token auth, with the token server that issues its tokens. */
export interface TokenRegistry extends Registry {
  /** The token server's URL (the realm of the registry's challenges). */
  readonly realm: string;
  /** Every token request the token server answered (or refused), in order. */
  readonly tokenRequests: readonly TokenRequest[];
}

/**
 * Starts the reference registry with `auth.token`, and the token server of
 * @strata/registry/testing that it trusts (an ES256 key made by openssl):
 * the token server checks Basic credentials against `users` and grants what
 * is asked; an anonymous client gets pull only; wrong credentials get a 401.
 */
export async function startTokenRegistry(options: {
  users: readonly Credentials[];
}): Promise<TokenRegistry> {
  const keys = await makeTokenKeys();
  const service = "strata-e2e";
  const issuer = "strata-e2e-issuer";
  const tokens = await startTokenServer({
    keys,
    issuer,
    service,
    users: Object.fromEntries(options.users.map((u) => [u.username, u.password])),
  });
  let registry: Registry;
  try {
    registry = await startReferenceRegistry({
      token: { realm: tokens.realm, service, issuer, rootCertBundle: keys.certPath },
    });
  } catch (err) {
    await tokens.stop();
    await rm(keys.dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host: registry.host,
    port: registry.port,
    root: registry.root,
    realm: tokens.realm,
    tokenRequests: tokens.requests,
    log: () => registry.log(),
    wipe: () => registry.wipe(),
    async stop() {
      await registry.stop();
      await tokens.stop();
      await rm(keys.dir, { recursive: true, force: true });
    },
  };
}

/** One request a {@link CountingProxy} or {@link HostileRegistry} saw. */
export interface SeenRequest {
  method: string;
  /** The path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The status answered (0 until the answer starts). */
  status: number;
}

/** A request-recording reverse proxy in front of a registry. */
export interface CountingProxy {
  /** `<listenHost>:<port>`: use it in references instead of the registry's. */
  readonly host: string;
  readonly port: number;
  /** Every request so far, in arrival order. */
  readonly requests: readonly SeenRequest[];
  /** Forgets the requests seen so far. */
  clear(): void;
  /** Blob upload requests (POST, PATCH and PUT under `/blobs/uploads/`). */
  uploads(): SeenRequest[];
  /** GETs of blobs (any digest, or those in `digests`). */
  blobGets(digests?: readonly string[]): SeenRequest[];
  stop(): Promise<void>;
}

const UPLOAD = /^\/v2\/.+\/blobs\/uploads\//;
const BLOB = /^\/v2\/.+\/blobs\/(sha256:[0-9a-f]{64})/;

/** The blob-upload requests among `requests`. */
export function uploadRequests(requests: readonly SeenRequest[]): SeenRequest[] {
  return requests.filter(
    (r) => ["POST", "PATCH", "PUT"].includes(r.method) && UPLOAD.test(r.url.split("?")[0] ?? ""),
  );
}

/** The blob GETs among `requests` (all, or those of `digests`). */
export function blobGetRequests(
  requests: readonly SeenRequest[],
  digests?: readonly string[],
): SeenRequest[] {
  return requests.filter((r) => {
    if (r.method !== "GET") return false;
    const m = BLOB.exec(r.url.split("?")[0] ?? "");
    return m !== null && (digests === undefined || digests.includes(m[1] as string));
  });
}

function listen(server: Server, host = "127.0.0.1"): Promise<number> {
  server.keepAliveTimeout = 1000;
  return new Promise((resolve) =>
    server.listen(0, host, () => resolve((server.address() as { port: number }).port)),
  );
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * A reverse proxy to `127.0.0.1:<targetPort>`, listening on `listenHost`
 * (another loopback address makes a host that is not plain-HTTP by
 * default), that records every request and streams bodies both ways. The Host header is passed on unchanged: the
 * registry builds upload Locations from it, so follow-ups come back here.
 */
export async function startCountingProxy(
  targetPort: number,
  listenHost = "127.0.0.1",
): Promise<CountingProxy> {
  let requests: SeenRequest[] = [];
  const server = createHttpServer((req, res) => {
    const seen: SeenRequest = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: { ...req.headers },
      status: 0,
    };
    requests.push(seen);
    const up = httpRequest(
      {
        host: "127.0.0.1",
        port: targetPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upRes) => {
        seen.status = upRes.statusCode ?? 502;
        res.writeHead(seen.status, upRes.headers);
        upRes.pipe(res);
        upRes.on("error", () => res.destroy());
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  const port = await listen(server, listenHost);
  return {
    host: `${listenHost}:${port}`,
    port,
    get requests() {
      return requests;
    },
    clear() {
      requests = [];
    },
    uploads: () => uploadRequests(requests),
    blobGets: (digests) => blobGetRequests(requests, digests),
    stop: () => close(server),
  };
}

// --- a hostile registry ---------------------------------------------------

/** A blob the hostile registry serves. */
export interface ServedBlob {
  mediaType: string;
  digest: string;
  bytes: Buffer;
}

/** An image (one manifest) the hostile registry serves. */
export interface ServedImage {
  manifest: ServedBlob;
  config: ServedBlob;
  layers: ServedBlob[];
}

/**
 * How the hostile registry misbehaves for one repository:
 * - `none`: correct answers;
 * - `wrong-digest`: layer blobs come back as other bytes of the same length;
 * - `truncated`: layer blobs announce their full length and stop half way;
 * - `oversized-manifest`: the tag's manifest is over 4 MiB (its length in
 *   the HEAD answer);
 * - `oversized-manifest-unannounced`: the same with no length announced
 *   (HEAD answers without one, GET is chunked);
 * - `redirect`: layer blobs are a 307 to the other host, with a signed URL
 *   it serves without credentials (as blob storage behind a CDN does);
 * - `redirect-unsigned`: the same without a signature: the other host asks
 *   for credentials (401), which the client must not send it.
 */
export type Fault =
  | "none"
  | "wrong-digest"
  | "truncated"
  | "oversized-manifest"
  | "oversized-manifest-unannounced"
  | "redirect"
  | "redirect-unsigned";

/** A registry we own that answers badly on purpose. */
export interface HostileRegistry {
  /** `127.0.0.1:<port>`. */
  readonly host: string;
  /** What it saw. */
  readonly requests: readonly SeenRequest[];
  /** The other host the `redirect` fault points to (`localhost:<port>`). */
  readonly other: { readonly host: string; readonly requests: readonly SeenRequest[] };
  /** Serves `image` as `<repo>:<tag>` with `fault`. */
  serve(repo: string, tag: string, image: ServedImage, fault: Fault): void;
  stop(): Promise<void>;
}

const OVERSIZED = (4 << 20) + 4096;

function oversizedManifest(image: ServedImage): Buffer {
  const manifest = JSON.parse(image.manifest.bytes.toString()) as Record<string, unknown>;
  manifest.annotations = { padding: "x".repeat(OVERSIZED) };
  return Buffer.from(JSON.stringify(manifest));
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function basicOk(headers: IncomingHttpHeaders, users: readonly Credentials[]): boolean {
  const auth = headers.authorization;
  if (auth === undefined || !auth.startsWith("Basic ")) return false;
  const decoded = Buffer.from(auth.slice(6), "base64").toString();
  return users.some((u) => decoded === `${u.username}:${u.password}`);
}

/**
 * Starts a registry that speaks the distribution API (enough to resolve and
 * fetch: `/v2/`, manifests, blobs) with the faults of {@link Fault}, and the
 * other host its redirects point to. With `users`, the registry asks for
 * basic auth (`WWW-Authenticate: Basic`); the other host always does for
 * unsigned URLs, and would let in a client that sent it the registry's
 * credentials — the tests check none ever arrives.
 */
export async function startHostileRegistry(
  options: { users?: readonly Credentials[] } = {},
): Promise<HostileRegistry> {
  const images = new Map<string, { tag: string; image: ServedImage; fault: Fault }>();
  const requests: SeenRequest[] = [];
  const otherRequests: SeenRequest[] = [];
  const blobs = new Map<string, ServedBlob>();
  const users = options.users;

  const deny = (res: ServerResponse): void => {
    res.writeHead(401, {
      "www-authenticate": 'Basic realm="hostile"',
      "content-type": "application/json",
    });
    res.end(
      JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }),
    );
  };
  const notFound = (res: ServerResponse, code: string): void => {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ errors: [{ code, message: "not found" }] }));
  };

  const other = createHttpServer((req, res) => {
    const seen = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: { ...req.headers },
      status: 0,
    };
    otherRequests.push(seen);
    req.resume();
    const signed = (req.url ?? "").endsWith("?signature=e2e");
    if (!signed && (users === undefined || !basicOk(req.headers, users))) {
      seen.status = 401;
      deny(res);
      return;
    }
    const blob = blobs.get((req.url ?? "").replace(/^\/storage\//, "").split("?")[0] ?? "");
    if (blob === undefined) {
      seen.status = 404;
      notFound(res, "BLOB_UNKNOWN");
      return;
    }
    seen.status = 200;
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": blob.bytes.length,
    });
    res.end(req.method === "HEAD" ? undefined : blob.bytes);
  });
  const otherPort = await listen(other);
  // Another host name for the same machine: `localhost` is not `127.0.0.1`.
  const otherHost = `localhost:${otherPort}`;

  const handle = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest): void => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    const head = req.method === "HEAD";
    if (req.method !== "GET" && !head) {
      seen.status = 405;
      res.writeHead(405).end();
      return;
    }
    if (users !== undefined && !basicOk(req.headers, users)) {
      seen.status = 401;
      deny(res);
      return;
    }
    if (path === "/v2/" || path === "/v2") {
      seen.status = 200;
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(path);
    const served = m === null ? undefined : images.get(m[1] as string);
    if (m === null || served === undefined) {
      seen.status = 404;
      notFound(res, "NAME_UNKNOWN");
      return;
    }
    const { tag, image, fault } = served;
    const ref = m[3] as string;
    if (m[2] === "manifests") {
      const byTag = !ref.startsWith("sha256:");
      if (byTag ? ref !== tag : ref !== image.manifest.digest) {
        seen.status = 404;
        notFound(res, "MANIFEST_UNKNOWN");
        return;
      }
      if (fault === "oversized-manifest" || fault === "oversized-manifest-unannounced") {
        const bytes = oversizedManifest(image);
        const announced = fault === "oversized-manifest";
        const headers: Record<string, string | number> = {
          "content-type": image.manifest.mediaType,
          "docker-content-digest": sha256(bytes),
        };
        if (announced) headers["content-length"] = bytes.length;
        seen.status = 200;
        res.writeHead(200, headers);
        if (head) {
          res.end();
          return;
        }
        // Chunked when unannounced: written in pieces, no length.
        for (let at = 0; at < bytes.length; at += 1 << 20)
          res.write(bytes.subarray(at, at + (1 << 20)));
        res.end();
        return;
      }
      seen.status = 200;
      res.writeHead(200, {
        "content-type": image.manifest.mediaType,
        "content-length": image.manifest.bytes.length,
        "docker-content-digest": image.manifest.digest,
      });
      res.end(head ? undefined : image.manifest.bytes);
      return;
    }
    const blob = [image.config, ...image.layers].find((b) => b.digest === ref);
    if (blob === undefined) {
      seen.status = 404;
      notFound(res, "BLOB_UNKNOWN");
      return;
    }
    const isLayer = blob !== image.config;
    if (isLayer && (fault === "redirect" || fault === "redirect-unsigned")) {
      seen.status = 307;
      const query = fault === "redirect" ? "?signature=e2e" : "";
      res.writeHead(307, { location: `http://${otherHost}/storage/${blob.digest}${query}` });
      res.end();
      return;
    }
    const headers = {
      "content-type": "application/octet-stream",
      "content-length": blob.bytes.length,
      "docker-content-digest": blob.digest,
    };
    seen.status = 200;
    if (head) {
      res.writeHead(200, headers).end();
      return;
    }
    if (isLayer && fault === "wrong-digest") {
      const wrong = Buffer.from(blob.bytes);
      for (let i = 0; i < wrong.length; i += 97) wrong[i] = (wrong[i] as number) ^ 0x5a;
      res.writeHead(200, headers).end(wrong);
      return;
    }
    if (isLayer && fault === "truncated") {
      res.writeHead(200, headers);
      // The announced length never arrives: half, then the connection drops.
      res.write(blob.bytes.subarray(0, blob.bytes.length >> 1), () => res.destroy());
      return;
    }
    res.writeHead(200, headers).end(blob.bytes);
  };

  const server = createHttpServer((req, res) => {
    const seen = {
      method: req.method ?? "",
      url: req.url ?? "",
      headers: { ...req.headers },
      status: 0,
    };
    requests.push(seen);
    req.resume();
    handle(req, res, seen);
  });
  const port = await listen(server);
  return {
    host: `127.0.0.1:${port}`,
    requests,
    other: { host: otherHost, requests: otherRequests },
    serve(repo, tag, image, fault) {
      images.set(repo, { tag, image, fault });
      for (const b of image.layers) blobs.set(b.digest, b);
    },
    async stop() {
      await Promise.all([close(server), close(other)]);
    },
  };
}
