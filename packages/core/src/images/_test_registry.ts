// Test helpers (not exported): the reference registry (Debian's
// `docker-registry`) on a free loopback port with its own storage, behind a
// small proxy that records every request, so tests can count what an
// operation sent. After packages/registry's own helper.

import { type ChildProcess, spawn } from "node:child_process";
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { createServer as createHttpServer, request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

/** The registry binary (`$STRATA_TEST_REGISTRY` overrides). */
export const REGISTRY_BINARY: string =
  process.env.STRATA_TEST_REGISTRY ?? "/usr/bin/docker-registry";

/** A running registry seen through a recording proxy: `host` is the proxy. */
export interface TestRegistry {
  /** `127.0.0.1:<proxy port>`. */
  readonly host: string;
  /** Requests through the proxy so far: `METHOD /path` (query dropped). */
  readonly requests: string[];
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Starts the registry and its proxy; fails when the binary is missing. */
export async function startRegistry(): Promise<TestRegistry> {
  const root = await mkdtemp(join(tmpdir(), "strata-core-registry-"));
  const port = await freePort();
  const config = join(root, "config.yml");
  await writeFile(
    config,
    [
      "version: 0.1",
      "log:",
      "  level: error",
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(root, "data")}`,
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  const child: ChildProcess = spawn(REGISTRY_BINARY, ["serve", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`registry exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await Promise.race([fetch(`http://127.0.0.1:${port}/v2/`), spawnError]);
      await res.body?.cancel();
      if (res.status === 200) break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`registry did not answer on port ${port}: ${stderr}`, { cause: err });
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
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
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await rm(root, { recursive: true, force: true });
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
