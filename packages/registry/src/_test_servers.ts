// Test peers we own: a TCP proxy that cuts connections, an HTTP proxy with
// hooks (fault injection, header rewriting, redirects, a Basic auth gate),
// and a token server for the registry's bearer token auth. The token server
// is also exported through `@strata/registry/testing` for the e2e tests.

import { execFile } from "node:child_process";
import { createPrivateKey, randomUUID, sign } from "node:crypto";
import { mkdtemp, readFile } from "node:fs/promises";
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { connect, createServer as createTcpServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

export interface Stoppable {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * A TCP proxy to `127.0.0.1:<targetPort>` that, on the first `cuts`
 * connections to carry more than `cutAfter` bytes toward the client,
 * passes exactly `cutAfter` bytes and then drops both sides.
 */
export async function startCuttingProxy(
  targetPort: number,
  options: { cutAfter: number | ((connection: number) => number); cuts: number },
): Promise<Stoppable & { cutsDone(): number }> {
  let remaining = options.cuts;
  let done = 0;
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    let sent = 0;
    const limit =
      typeof options.cutAfter === "number" ? options.cutAfter : options.cutAfter(connections);
    connections++;
    let cutting = remaining > 0;
    if (cutting) remaining--;
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d: Buffer) => {
      if (cutting && sent + d.length > limit) {
        client.write(d.subarray(0, limit - sent), () => {
          client.destroy();
          upstream.destroy();
        });
        sent = limit;
        cutting = false;
        done++;
        return;
      }
      sent += d.length;
      client.write(d);
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", close).on("error", close);
    upstream.on("close", close).on("error", close);
    // Connections that did not reach the limit give their cut back.
    client.on("close", () => {
      if (cutting && sent <= limit) {
        cutting = false;
        remaining++;
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    cutsDone: () => done,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One request an {@link startHttpProxy} saw. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** Hooks of {@link startHttpProxy}. */
export interface ProxyHooks {
  /** Answers a request itself when it returns true. */
  intercept?(req: IncomingMessage, res: ServerResponse): boolean;
  /** Changes the upstream's response headers before they are sent. */
  headers?(req: IncomingMessage, status: number, headers: IncomingHttpHeaders): void;
  /** Changes body bytes on their way; `offset` is where `chunk` starts in the body. */
  body?(req: IncomingMessage, chunk: Buffer, offset: number): Buffer;
}

/** An HTTP proxy to `127.0.0.1:<targetPort>` with hooks; it records every request. */
export async function startHttpProxy(
  targetPort: number,
  hooks: ProxyHooks = {},
  listenHost = "127.0.0.1",
): Promise<Stoppable & { requests: SeenRequest[] }> {
  const requests: SeenRequest[] = [];
  const server = createHttpServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: { ...req.headers } });
    if (hooks.intercept?.(req, res) === true) {
      req.resume();
      return;
    }
    // The Host header is kept: the registry builds upload Locations from it,
    // so follow-up requests come back through this proxy.
    const headers = { ...req.headers };
    const up = httpRequest(
      { host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers },
      (upRes) => {
        const outHeaders = { ...upRes.headers };
        hooks.headers?.(req, upRes.statusCode ?? 502, outHeaders);
        if (hooks.body !== undefined) delete outHeaders["content-length"];
        res.writeHead(upRes.statusCode ?? 502, outHeaders);
        let offset = 0;
        upRes.on("data", (chunk: Buffer) => {
          const out = hooks.body === undefined ? chunk : hooks.body(req, chunk, offset);
          offset += chunk.length;
          res.write(out);
        });
        upRes.on("end", () => res.end());
        upRes.on("error", () => res.destroy());
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, listenHost, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A key and self-signed certificate for signing registry tokens (made with openssl). */
export interface TokenKeys {
  readonly dir: string;
  readonly certPath: string;
  readonly keyPem: string;
  readonly certDer: Buffer;
}

export async function makeTokenKeys(): Promise<TokenKeys> {
  const dir = await mkdtemp(join(tmpdir(), "strata-token-"));
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  await promisify(execFile)("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyPath,
    "-out",
    certPath,
    "-days",
    "2",
    "-subj",
    "/CN=strata-test-token",
  ]);
  const pem = await readFile(certPath, "utf8");
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return {
    dir,
    certPath,
    keyPem: await readFile(keyPath, "utf8"),
    certDer: Buffer.from(b64, "base64"),
  };
}

/** One token request the token server answered. */
export interface TokenRequest {
  method: string;
  scopes: string[];
  user: string | undefined;
  grantType?: string;
}

/**
 * A token server for the registry's `auth.token`: it checks Basic
 * credentials (or a refresh token) against `users` and signs an ES256 JWT
 * granting what was asked. Anonymous requests get pull only.
 */
export async function startTokenServer(options: {
  keys: TokenKeys;
  issuer: string;
  service: string;
  users: Record<string, string>;
  refreshTokens?: Record<string, string>;
  expiresIn?: number;
}): Promise<Stoppable & { realm: string; requests: TokenRequest[] }> {
  const requests: TokenRequest[] = [];
  const key = createPrivateKey(options.keys.keyPem);
  const b64u = (v: Buffer | string): string => Buffer.from(v).toString("base64url");
  const issue = (res: ServerResponse, user: string | undefined, scopes: string[]): void => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((s) => {
      const [type, name, actions] = s.split(":");
      if (type === undefined || name === undefined || actions === undefined) return [];
      const allowed = actions.split(",").filter((a) => user !== undefined || a === "pull");
      return [{ type, name, actions: allowed }];
    });
    const header = { typ: "JWT", alg: "ES256", x5c: [options.keys.certDer.toString("base64")] };
    const claims = {
      iss: options.issuer,
      sub: user ?? "",
      aud: options.service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
    const sig = sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
    res.writeHead(200, { "content-type": "application/json" });
    res.end(
      JSON.stringify({ token: `${input}.${b64u(sig)}`, expires_in: options.expiresIn ?? 300 }),
    );
  };
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (req.method === "POST") {
      let body = "";
      req.on("data", (d: Buffer) => {
        body += d.toString();
      });
      req.on("end", () => {
        const form = new URLSearchParams(body);
        const scopes = (form.get("scope") ?? "").split(" ").filter((s) => s !== "");
        const user = options.refreshTokens?.[form.get("refresh_token") ?? ""];
        requests.push({ method: "POST", scopes, user, grantType: form.get("grant_type") ?? "" });
        if (user === undefined) {
          res.writeHead(401).end('{"error":"invalid_grant"}');
          return;
        }
        issue(res, user, scopes);
      });
      return;
    }
    const scopes = url.searchParams.getAll("scope");
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith("Basic ")) {
      const [name, ...rest] = Buffer.from(auth.slice(6), "base64").toString().split(":");
      if (name === undefined || options.users[name] !== rest.join(":")) {
        requests.push({ method: "GET", scopes, user: name });
        res.writeHead(401, { "content-type": "application/json" });
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}');
        return;
      }
      user = name;
    }
    requests.push({ method: "GET", scopes, user });
    issue(res, user, scopes);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    realm: `http://127.0.0.1:${port}/token`,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
