// Test helpers: the real reference registry (Debian's `docker-registry`),
// started per suite on a free loopback port with its own storage directory.
// Not exported from mod.ts.

import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Digest } from "./_oci.ts";

export const REGISTRY_BINARY: string =
  process.env.STRATA_TEST_REGISTRY ?? "/usr/bin/docker-registry";

/** A running registry; `host` is `127.0.0.1:<port>`. */
export interface TestRegistry {
  readonly host: string;
  readonly port: number;
  readonly root: string;
  stop(): Promise<void>;
}

/** Token auth settings for the registry's `auth.token` section. */
export interface TokenAuthConfig {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
}

/** A free TCP port on 127.0.0.1 (closed again before it is returned). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Starts the registry and waits until `/v2/` answers. */
export async function startRegistry(options?: { token?: TokenAuthConfig }): Promise<TestRegistry> {
  const root = await mkdtemp(join(tmpdir(), "strata-registry-"));
  const port = await freePort();
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${join(root, "data")}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
  ];
  if (options?.token !== undefined) {
    const t = options.token;
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${t.realm}`,
      `    service: ${t.service}`,
      `    issuer: ${t.issuer}`,
      `    rootcertbundle: ${t.rootCertBundle}`,
    );
  }
  const config = join(root, "config.yml");
  await writeFile(config, `${lines.join("\n")}\n`);
  const child: ChildProcess = spawn(REGISTRY_BINARY, ["serve", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`registry exited with ${child.exitCode}: ${stderr}`);
    }
    try {
      const res = await Promise.race([fetch(`http://${host}/v2/`), spawnError]);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`registry did not answer on ${host}: ${stderr}`, { cause: err });
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    port,
    root,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A descriptor of `bytes`. */
export function descOf(
  bytes: Uint8Array,
  mediaType: string = "application/octet-stream",
): { mediaType: string; digest: Digest; size: number } {
  return {
    mediaType,
    digest: `sha256:${createHash("sha256").update(bytes).digest("hex")}`,
    size: bytes.byteLength,
  };
}

/** `bytes` as a stream of `size`-byte chunks. */
export async function* chunksOf(
  bytes: Uint8Array,
  size: number = 64 * 1024,
): AsyncGenerator<Uint8Array, void, undefined> {
  for (let at = 0; at < bytes.byteLength; at += size) yield bytes.subarray(at, at + size);
}

/** All of a stream in one buffer (tests only). */
export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return Buffer.concat(parts);
}
