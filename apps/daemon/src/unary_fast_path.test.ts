// Unary calls as stratad serves them outside connect's handler: replies,
// errors with containerd's codes, limits, and which calls are left to the
// general handler, seen on the wire by a plain HTTP/2 client.
import { mkdtemp, rm } from "node:fs/promises";
import type http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Content, InfoRequestSchema, InfoResponseSchema } from "@strata/api/content";
import { envelope } from "@strata/api/grpc-wire";
import { Leases } from "@strata/api/leases";
import { daemonTransport, RemoteContentStore, RemoteLeaseManager } from "@strata/core/remote";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RawReply, rawGrpcCall } from "./_raw_grpc_client.ts";
import { defaultConfig } from "./config.ts";
import { type Daemon, startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";
import { fastUnaryRoute, unaryRoutes } from "./unary_fast_path.ts";

let dir: string;
let daemon: Daemon;
let digest: string;
const INFO = "/containerd.services.content.v1.Content/Info";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "stratad-unary-"));
  daemon = await startDaemon(
    { ...defaultConfig({}), root: join(dir, "root"), socket: join(dir, "s.sock") },
    createLogger("error", { write: () => true }),
  );
  const transport = daemonTransport(daemon.server.socket);
  const lease = await new RemoteLeaseManager(transport, { namespace: "u" }).create({ id: "l" });
  const store = new RemoteContentStore(transport, { namespace: "u", lease: lease.id });
  const w = await store.writer({ ref: "u" });
  await w.write(new TextEncoder().encode("unary"));
  await w.commit(5, undefined, { labels: { "strata.test/k": "v" } });
  digest = w.digest();
});

afterAll(async () => {
  await daemon.shutdown(1000);
  await rm(dir, { recursive: true, force: true });
});

async function rawCall(
  path: string,
  body: Uint8Array,
  headers: http2.OutgoingHttpHeaders = {},
  end = true,
): Promise<RawReply> {
  return rawGrpcCall(daemon.server.socket, path, body, { namespace: "u", headers, end });
}

const infoRequest = (d: string) =>
  envelope(toBinary(InfoRequestSchema, create(InfoRequestSchema, { digest: d })));

describe("unaryFastPath", () => {
  it("answers Info with the record, in one message", async () => {
    const reply = await rawCall(INFO, infoRequest(digest));
    expect(reply.status).toBe("0");
    expect(reply.body.readUInt32BE(1)).toBe(reply.body.length - 5);
    const info = fromBinary(InfoResponseSchema, reply.body.subarray(5)).info;
    expect(info?.digest).toBe(digest);
    expect(info?.size).toBe(5n);
    expect(info?.labels).toEqual({ "strata.test/k": "v" });
  });

  it("answers errors with containerd's codes", async () => {
    const missing = await rawCall(INFO, infoRequest(`sha256:${"0".repeat(64)}`));
    expect(missing.status).toBe("5");
    expect(missing.body.length).toBe(0);
    const bad = await rawCall(INFO, infoRequest("md5:abc"));
    expect(bad.status).toBe("3");
    const noNamespace = await rawCall(
      "/containerd.services.leases.v1.Leases/List",
      envelope(new Uint8Array(0)),
      { "containerd-namespace": "" },
    );
    expect(noNamespace.status).toBe("3");
    expect(noNamespace.message).toMatch(/namespace/);
    expect((await rawCall(INFO, Uint8Array.of(0, 0, 0, 0, 9, 1))).status).toBe("3");
  });

  it("refuses a message whose header claims more than the limit, with no body behind it", async () => {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(1 << 30, 1);
    const reply = await rawCall(INFO, head, {}, false);
    expect(reply.status).toBe("8");
  });

  it("leaves calls with a deadline or compression to the general handler, which answers the same", async () => {
    const timed = await rawCall(INFO, infoRequest(digest), { "grpc-timeout": "5S" });
    expect(timed.status).toBe("0");
    expect(fromBinary(InfoResponseSchema, timed.body.subarray(5)).info?.digest).toBe(digest);
  });
});

describe("fastUnaryRoute", () => {
  const routes = unaryRoutes([
    [Content, { info: async () => ({}), read: async function* () {} }],
    [Leases, {}],
  ]);
  const req = (url: string, headers: Record<string, string> = {}) =>
    ({
      method: "POST",
      url,
      headers: { "content-type": "application/grpc", ...headers },
    }) as unknown as http2.Http2ServerRequest;

  it("takes implemented unary methods in plain gRPC only", () => {
    expect(fastUnaryRoute(req(INFO), routes)?.method.name).toBe("Info");
    // Streaming, unimplemented, deadline, compression: the general handler.
    expect(fastUnaryRoute(req("/containerd.services.content.v1.Content/Read"), routes)).toBe(
      undefined,
    );
    expect(fastUnaryRoute(req("/containerd.services.leases.v1.Leases/Create"), routes)).toBe(
      undefined,
    );
    expect(fastUnaryRoute(req(INFO, { "grpc-timeout": "1S" }), routes)).toBe(undefined);
    expect(fastUnaryRoute(req(INFO, { "grpc-encoding": "gzip" }), routes)).toBe(undefined);
  });
});
