// TCP is served only with mutual TLS: a client with a certificate from the
// configured CA gets through; one without is refused at the handshake.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Version } from "@strata/api/version";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultConfig, loadConfig } from "./config.ts";
import { type Daemon, startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";

const run = promisify(execFile);
let dir: string;
let daemon: Daemon;

async function openssl(args: string[]): Promise<void> {
  await run("openssl", args, { cwd: dir });
}

// A CA, a server certificate for 127.0.0.1, and a client certificate.
async function makeCerts(): Promise<void> {
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    "/CN=strata-test-ca",
  ]);
  await writeFile(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\n");
  for (const who of ["server", "client"]) {
    await openssl([
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${who}.key`,
      "-out",
      `${who}.csr`,
      "-subj",
      `/CN=${who}`,
    ]);
    await openssl([
      "x509",
      "-req",
      "-in",
      `${who}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${who}.pem`,
      "-days",
      "1",
      ...(who === "server" ? ["-extfile", "server.ext"] : []),
    ]);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "stratad-tls-"));
  await makeCerts();
  daemon = await startDaemon(
    {
      ...defaultConfig({}),
      root: join(dir, "root"),
      socket: join(dir, "s.sock"),
      tcpAddress: "127.0.0.1:0",
      tlsCert: join(dir, "server.pem"),
      tlsKey: join(dir, "server.key"),
      tlsCa: join(dir, "ca.pem"),
    },
    createLogger("error", { write: () => true }),
  );
}, 30_000);
afterAll(async () => {
  await daemon?.shutdown(1000);
  await rm(dir, { recursive: true, force: true });
});

function client(withCert: boolean) {
  const read = (f: string) => readFile(join(dir, f), "utf8");
  return Promise.all([read("ca.pem"), read("client.pem"), read("client.key")]).then(
    ([ca, cert, key]) =>
      createClient(
        Version,
        createGrpcTransport({
          baseUrl: `https://${daemon.tcp?.socket}`,
          nodeOptions: withCert ? { ca, cert, key } : { ca },
        }),
      ),
  );
}

describe("stratad over TCP", () => {
  it("answers a client with a certificate from the CA", async () => {
    const res = await (await client(true)).version({});
    expect(res.version).toMatch(/^strata-/);
  });

  it("refuses a client without a certificate", async () => {
    await expect((await client(false)).version({})).rejects.toThrow();
  });

  it("will not serve TCP without the TLS files", async () => {
    await expect(loadConfig(["--tcp", "127.0.0.1:9999"], {})).rejects.toThrow(/mutual TLS/);
  });
});
