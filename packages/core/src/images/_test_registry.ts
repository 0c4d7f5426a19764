// Test helpers (not exported): the reference registry (Debian's
// `docker-registry`) on a free loopback port with its own storage, behind a
// small proxy that records every request, so tests can count what an
// operation sent. The registry itself is @strata/registry/testing's.

import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import { createServer as createHttpServer, request } from "node:http";
import { join, relative } from "node:path";
import { startRegistry as startReferenceRegistry } from "@strata/registry/testing";

/** A running registry seen through a recording proxy: `host` is the proxy. */
export interface TestRegistry {
  /** `127.0.0.1:<proxy port>`. */
  readonly host: string;
  /** Requests through the proxy so far: `METHOD /path` (query dropped). */
  readonly requests: string[];
  stop(): Promise<void>;
}

/** Starts the registry and its proxy; fails when the binary is missing. */
export async function startRegistry(): Promise<TestRegistry> {
  const registry = await startReferenceRegistry();
  const port = registry.port;
  const requests: string[] = [];
  const proxy = createHttpServer((req, res) => {
    requests.push(`${req.method} ${(req.url ?? "").split("?")[0]}`);
    const up = request(
      {
        host: "127.0.0.1",
        port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const address = proxy.address();
  if (address === null || typeof address === "string") throw new Error("no proxy port");
  return {
    host: `127.0.0.1:${address.port}`,
    requests,
    async stop() {
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
      await registry.stop();
    },
  };
}

/** A tree as `path -> description` (file contents, symlink targets, modes), for comparisons. */
export async function readTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (at: string): Promise<void> => {
    for (const name of (await readdir(at)).sort()) {
      const path = join(at, name);
      const st = await lstat(path);
      const rel = relative(dir, path);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[rel] = `dir ${mode}`;
        await walk(path);
      } else if (st.isSymbolicLink()) {
        out[rel] = `link ${await readlink(path)}`;
      } else {
        out[rel] = `file ${mode} ${(await readFile(path)).toString("base64")}`;
      }
    }
  };
  await walk(dir);
  return out;
}
