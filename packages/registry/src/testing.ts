// The reference registry for tests and benchmarks: Debian's `docker-registry`
// on a free loopback port with its own storage directory. Exported as
// `@strata/registry/testing`, so that every package drives the real registry
// the same way.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UnavailableError } from "@strata/errdefs";

/** The registry binary (`$STRATA_TEST_REGISTRY` overrides). */
export const REGISTRY_BINARY: string =
  process.env.STRATA_TEST_REGISTRY ?? "/usr/bin/docker-registry";

/** Token auth settings for the registry's `auth.token` section. */
export interface TokenAuthConfig {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
}

/** Options of {@link startRegistry}. */
export interface TestRegistryOptions {
  /** Where its directory goes (default: the system's temporary directory). */
  parent?: string;
  /** Token auth (`auth.token`). */
  token?: TokenAuthConfig;
  /** Basic auth: the contents of an htpasswd file (bcrypt lines, `htpasswd -nbB`). */
  htpasswd?: string;
}

/** A running registry; `host` is `127.0.0.1:<port>`, as references name it. */
export interface TestRegistry {
  readonly host: string;
  readonly port: number;
  /** Its directory (config, storage, htpasswd). */
  readonly root: string;
  /** What it wrote to stderr so far. */
  log(): string;
  /** Removes every repository and blob it stores; it keeps running. */
  wipe(): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL after 5 s) and removes its directory. Idempotent. */
  stop(): Promise<void>;
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

/**
 * Starts the registry and waits until `/v2/` answers (15 s at most).
 *
 * @throws {UnavailableError} when the binary is missing, exits, or does not answer.
 */
export async function startRegistry(options: TestRegistryOptions = {}): Promise<TestRegistry> {
  const root = await mkdtemp(join(options.parent ?? tmpdir(), "strata-registry-"));
  const port = await freePort();
  const data = join(root, "data");
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${data}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
  ];
  if (options.token !== undefined) {
    const t = options.token;
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${t.realm}`,
      `    service: ${t.service}`,
      `    issuer: ${t.issuer}`,
      `    rootcertbundle: ${t.rootCertBundle}`,
    );
  } else if (options.htpasswd !== undefined) {
    const file = join(root, "htpasswd");
    await writeFile(
      file,
      options.htpasswd.endsWith("\n") ? options.htpasswd : `${options.htpasswd}\n`,
    );
    lines.push("auth:", "  htpasswd:", "    realm: strata-test", `    path: ${file}`);
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
  const spawnFailed = new Promise<never>((_, reject) => child.once("error", reject));
  spawnFailed.catch(() => {});
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(root, { recursive: true, force: true });
  };
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new UnavailableError(`${REGISTRY_BINARY} exited with ${child.exitCode}: ${stderr}`);
    }
    try {
      const res = await Promise.race([fetch(`http://${host}/v2/`), spawnFailed]);
      await res.body?.cancel();
      if (res.status === 200 || res.status === 401) break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" || Date.now() > deadline) {
        await stop();
        throw new UnavailableError(
          `${REGISTRY_BINARY} did not answer on ${host} (apt-get install docker-registry): ${stderr}`,
          { cause: err },
        );
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    port,
    root,
    log: () => stderr,
    // The filesystem driver keeps nothing in memory (no blob descriptor
    // cache is configured), so removing its tree empties the registry.
    wipe: () => rm(data, { recursive: true, force: true }),
    stop,
  };
}

// The token server that issues the registry's `auth.token` JWTs lives with
// this package's own tests; the same one serves every package's tests.
export {
  makeTokenKeys,
  startTokenServer,
  type TokenKeys,
  type TokenRequest,
} from "./_test_servers.ts";
