import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  isInvalidArgument,
  isResourceExhausted,
  isUnauthenticated,
  isUnavailable,
} from "@strata/errdefs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chunksOf,
  collect,
  descOf,
  freePort,
  startRegistry,
  type TestRegistry,
} from "./_test_registry.ts";
import { startHttpProxy } from "./_test_servers.ts";
import { RegistryClient } from "./registry_client.ts";

const FAST = { retries: 3, minDelay: 5, maxDelay: 50 };

let registry: TestRegistry;
const data = randomBytes(200_000);
const desc = descOf(data);
beforeAll(async () => {
  registry = await startRegistry();
  await new RegistryClient().repository(`${registry.host}/net/app`).pushBlob(desc, chunksOf(data));
});
afterAll(async () => {
  await registry?.stop();
});

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

/** Answers the first `times` requests matching `when` with `status`. */
function failFirst(
  times: number,
  status: number,
  headers: Record<string, string> = {},
  when: (req: IncomingMessage) => boolean = () => true,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  let left = times;
  return (req, res) => {
    if (left <= 0 || !when(req)) return false;
    left--;
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify({ errors: [{ code: "TOOMANYREQUESTS", message: "slow down" }] }));
    return true;
  };
}

describe("Transport retries", () => {
  it("retries a GET on 503 and then succeeds", async () => {
    const proxy = await startHttpProxy(registry.port, { intercept: failFirst(2, 503) });
    try {
      const repo = new RegistryClient({ retry: FAST }).repository(
        `127.0.0.1:${proxy.port}/net/app`,
      );
      expect(await collect(repo.fetchBlob(desc))).toEqual(data);
      expect(proxy.requests.filter((r) => r.method === "GET")).toHaveLength(3);
    } finally {
      await proxy.stop();
    }
  });

  it("gives ResourceExhausted naming the URL and error body after 429s outlast the retries", async () => {
    const proxy = await startHttpProxy(registry.port, { intercept: failFirst(100, 429) });
    try {
      const repo = new RegistryClient({
        retry: { retries: 2, minDelay: 1, maxDelay: 5 },
      }).repository(`127.0.0.1:${proxy.port}/net/app`);
      const err = await caught(repo.statBlob(desc.digest));
      expect(isResourceExhausted(err)).toBe(true);
      expect(String(err)).toContain(
        `HEAD http://127.0.0.1:${proxy.port}/v2/net/app/blobs/${desc.digest}: 429`,
      );
      const get = await caught(repo.listTags());
      expect(String(get)).toContain("TOOMANYREQUESTS: slow down");
      expect(proxy.requests).toHaveLength(6);
    } finally {
      await proxy.stop();
    }
  });

  it("waits as long as Retry-After says, within the cap", async () => {
    const proxy = await startHttpProxy(registry.port, {
      intercept: failFirst(1, 503, { "retry-after": "1" }),
    });
    try {
      const repo = new RegistryClient({
        retry: { retries: 2, minDelay: 1, maxDelay: 5000 },
      }).repository(`127.0.0.1:${proxy.port}/net/app`);
      const started = Date.now();
      expect(await repo.statBlob(desc.digest)).toEqual({ digest: desc.digest, size: desc.size });
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    } finally {
      await proxy.stop();
    }
  });

  it("does not repeat a PATCH that got a 500", async () => {
    const proxy = await startHttpProxy(registry.port, {
      intercept: failFirst(100, 500, {}, (req) => req.method === "PATCH"),
    });
    try {
      const repo = new RegistryClient({ retry: FAST, chunkSize: 1024 }).repository(
        `127.0.0.1:${proxy.port}/net/patch`,
      );
      const blob = randomBytes(5000);
      const err = await caught(repo.pushBlob(descOf(blob), chunksOf(blob)));
      expect(isUnavailable(err)).toBe(true);
      expect(proxy.requests.filter((r) => r.method === "PATCH")).toHaveLength(1);
      // The failed upload session is cancelled.
      expect(proxy.requests.at(-1)?.method).toBe("DELETE");
    } finally {
      await proxy.stop();
    }
  });

  it("gives Unavailable with the network cause when nothing listens", async () => {
    const port = await freePort();
    const repo = new RegistryClient({ retry: { retries: 1, minDelay: 1, maxDelay: 2 } }).repository(
      `127.0.0.1:${port}/net/app`,
    );
    const err = await caught(repo.statBlob(desc.digest));
    expect(isUnavailable(err)).toBe(true);
    expect(String(err)).toContain(`HEAD http://127.0.0.1:${port}/v2/net/app/blobs/`);
    expect(String(err)).toContain("ECONNREFUSED");
  });

  it("stops when the signal aborts", async () => {
    const proxy = await startHttpProxy(registry.port, { intercept: failFirst(100, 503) });
    try {
      const repo = new RegistryClient({
        retry: { retries: 50, minDelay: 50, maxDelay: 50 },
      }).repository(`127.0.0.1:${proxy.port}/net/app`);
      const err = await caught(repo.statBlob(desc.digest, { signal: AbortSignal.timeout(120) }));
      expect((err as Error).name).toBe("TimeoutError");
    } finally {
      await proxy.stop();
    }
  });
});

describe("Transport schemes", () => {
  it("uses HTTPS for a host not marked insecure, HTTP when it is", async () => {
    // 127.0.0.2 is loopback on Linux but not in the plain-HTTP list.
    const proxy = await startHttpProxy(registry.port, {}, "127.0.0.2");
    try {
      const host = `127.0.0.2:${proxy.port}`;
      const secure = new RegistryClient({ retry: { retries: 0 } }).repository(`${host}/net/app`);
      const err = await caught(secure.statBlob(desc.digest));
      expect(String(err)).toContain(`HEAD https://${host}/v2/`);
      const insecure = new RegistryClient({ insecure: [host] }).repository(`${host}/net/app`);
      expect(await insecure.statBlob(desc.digest)).toEqual({
        digest: desc.digest,
        size: desc.size,
      });
    } finally {
      await proxy.stop();
    }
  });
});

describe("Transport redirects", () => {
  it("follows a blob redirect to another host without sending credentials there", async () => {
    // "Storage" on 127.0.0.1; the registry front on localhost demands Basic auth
    // and redirects blob GETs to storage, as registries do to object stores.
    const storage = await startHttpProxy(registry.port);
    const good = `Basic ${Buffer.from("alice:secret").toString("base64")}`;
    const front = await startHttpProxy(registry.port, {
      intercept(req, res) {
        if (req.headers.authorization !== good) {
          res.writeHead(401, { "www-authenticate": 'Basic realm="front"' });
          res.end();
          return true;
        }
        if (req.method === "GET" && req.url?.includes("/blobs/sha256:")) {
          res.writeHead(307, { location: `http://127.0.0.1:${storage.port}${req.url}` });
          res.end();
          return true;
        }
        return false;
      },
    });
    try {
      const host = `localhost:${front.port}`;
      const client = new RegistryClient({
        retry: FAST,
        credentials: (h) => (h === host ? { username: "alice", password: "secret" } : undefined),
      });
      const repo = client.repository(`${host}/net/app`);
      expect(await collect(repo.fetchBlob(desc))).toEqual(data);
      expect(await collect(repo.fetchBlob(desc, { offset: 10, length: 20 }))).toEqual(
        data.subarray(10, 30),
      );
      expect(front.requests.some((r) => r.headers.authorization === good)).toBe(true);
      expect(storage.requests.length).toBe(2);
      expect(storage.requests.every((r) => r.headers.authorization === undefined)).toBe(true);
      expect(storage.requests[1]?.headers.range).toBe("bytes=10-29");
    } finally {
      await front.stop();
      await storage.stop();
    }
  });

  it("fails with Unauthenticated when Basic credentials are missing or wrong", async () => {
    const front = await startHttpProxy(registry.port, {
      intercept(req, res) {
        if (
          req.headers.authorization !== `Basic ${Buffer.from("carol:right").toString("base64")}`
        ) {
          res.writeHead(401, { "www-authenticate": 'Basic realm="front"' });
          res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
          return true;
        }
        return false;
      },
    });
    try {
      const host = `127.0.0.1:${front.port}`;
      const anonymous = new RegistryClient({ retry: FAST }).repository(`${host}/net/app`);
      const err = await caught(anonymous.statBlob(desc.digest));
      expect(isUnauthenticated(err)).toBe(true);
      const wrong = new RegistryClient({
        retry: FAST,
        credentials: () => ({ username: "bob", password: "nope" }),
      }).repository(`${host}/net/app`);
      const err2 = await caught(wrong.listTags());
      expect(isUnauthenticated(err2)).toBe(true);
      expect(String(err2)).toContain(
        `GET http://${host}/v2/net/app/tags/list: 401 Unauthorized: UNAUTHORIZED: authentication required`,
      );
    } finally {
      await front.stop();
    }
  });

  it("rejects a reference the client cannot parse", () => {
    expect(() => new RegistryClient().repository("http://x/y")).toThrow(/invalid reference/);
    try {
      new RegistryClient({ chunkSize: 0 });
    } catch (err) {
      expect(isInvalidArgument(err)).toBe(true);
    }
  });
});
