// containerd's Read as stratad serves it outside the general gRPC handler:
// the bytes, offsets and sizes of the messages, and the statuses of bad
// requests, seen on the wire by a plain HTTP/2 client.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import type http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ReadContentRequestSchema, ReadContentResponseSchema } from "@strata/api/content";
import { daemonTransport, RemoteContentStore, RemoteLeaseManager } from "@strata/core/remote";
import type { Digest } from "@strata/oci";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { messagesOf, rawGrpcCall } from "./_raw_grpc_client.ts";
import { defaultConfig } from "./config.ts";
import { type Daemon, startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";
import { isFastRead, READ_PATH } from "./read_fast_path.ts";

let dir: string;
let daemon: Daemon;
let digest: Digest;
const blob = randomBytes((2 << 20) + 12345);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "stratad-read-"));
  daemon = await startDaemon(
    { ...defaultConfig({}), root: join(dir, "root"), socket: join(dir, "s.sock") },
    createLogger("error", { write: () => true }),
  );
  const transport = daemonTransport(daemon.server.socket);
  const lease = await new RemoteLeaseManager(transport, { namespace: "r" }).create({ id: "l" });
  const store = new RemoteContentStore(transport, { namespace: "r", lease: lease.id });
  digest = `sha256:${createHash("sha256").update(blob).digest("hex")}` as Digest;
  const w = await store.writer({ ref: "r", desc: { digest, size: blob.length } });
  await w.write(blob);
  await w.commit(blob.length, digest);
});

afterAll(async () => {
  await daemon.shutdown(1000);
  await rm(dir, { recursive: true, force: true });
});

interface Reply {
  status: string | undefined;
  message: string;
  messages: { offset: bigint; data: Uint8Array }[];
}

// One Read with `body` as the request bytes (a whole envelope), the
// response split into its messages.
async function rawRead(body: Uint8Array, headers: http2.OutgoingHttpHeaders = {}): Promise<Reply> {
  const reply = await rawGrpcCall(daemon.server.socket, READ_PATH, body, {
    namespace: "r",
    headers,
  });
  const messages = messagesOf(reply.body).map((m) => {
    const r = fromBinary(ReadContentResponseSchema, m);
    return { offset: r.offset, data: r.data };
  });
  return { status: reply.status, message: reply.message, messages };
}

function envelope(msg: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

function request(init: { digest: string; offset?: bigint; size?: bigint }): Buffer {
  return envelope(toBinary(ReadContentRequestSchema, create(ReadContentRequestSchema, init)));
}

describe("readFastPath", () => {
  it("sends the whole blob in 1 MiB messages with their offsets", async () => {
    const reply = await rawRead(request({ digest }));
    expect(reply.status).toBe("0");
    expect(reply.messages.map((m) => m.offset)).toEqual([0n, 1n << 20n, 2n << 20n]);
    expect(Buffer.concat(reply.messages.map((m) => m.data)).equals(blob)).toBe(true);
  });

  it("honours offset and size", async () => {
    const reply = await rawRead(request({ digest, offset: 1000n, size: 5000n }));
    expect(reply.status).toBe("0");
    expect(reply.messages.map((m) => m.offset)).toEqual([1000n]);
    expect(Buffer.from(reply.messages[0]?.data ?? []).equals(blob.subarray(1000, 6000))).toBe(true);
    const tail = await rawRead(request({ digest, offset: BigInt(blob.length - 10), size: 100n }));
    expect(tail.messages.map((m) => m.data.length)).toEqual([10]);
    const atEnd = await rawRead(request({ digest, offset: BigInt(blob.length) }));
    expect(atEnd).toMatchObject({ status: "0", messages: [] });
  });

  it("answers bad requests with containerd's statuses", async () => {
    expect((await rawRead(request({ digest: `sha256:${"0".repeat(64)}` }))).status).toBe("5");
    const past = await rawRead(request({ digest, offset: BigInt(blob.length + 1) }));
    expect(past.status).toBe("11");
    expect(past.message).toMatch(/past the end/);
    expect((await rawRead(request({ digest: "md5:abc" }))).status).toBe("3");
    expect((await rawRead(Buffer.from([0, 0, 0, 0, 9, 1]))).status).toBe("3");
    expect((await rawRead(envelope(Buffer.from([0x0a, 0xff, 0xff, 0x0f])))).status).toBe("3");
    expect((await rawRead(envelope(Buffer.alloc(8000)))).status).toBe("8");
    // No namespace: the bare store containerd uses as a proxy content store, not this one's.
    const noNamespace = await rawRead(request({ digest }), { "containerd-namespace": "" });
    expect(noNamespace.status).toBe("5");
    const otherNamespace = await rawRead(request({ digest }), { "containerd-namespace": "x" });
    expect(otherNamespace.status).toBe("5");
  });

  it("reads through the gRPC client the same bytes", async () => {
    const store = new RemoteContentStore(daemonTransport(daemon.server.socket), { namespace: "r" });
    const reader = await store.readerAt({ digest });
    const buf = new Uint8Array(300_000);
    expect(await reader.readAt(buf, 1_500_000)).toBe(300_000);
    expect(Buffer.from(buf).equals(blob.subarray(1_500_000, 1_800_000))).toBe(true);
    await reader.close();
  });
});

describe("isFastRead", () => {
  it("takes plain gRPC Reads only", () => {
    const req = (url: string, headers: Record<string, string>) =>
      ({ method: "POST", url, headers }) as unknown as http2.Http2ServerRequest;
    expect(isFastRead(req(READ_PATH, { "content-type": "application/grpc" }))).toBe(true);
    expect(isFastRead(req(READ_PATH, { "content-type": "application/grpc+proto" }))).toBe(true);
    expect(
      isFastRead(req(READ_PATH, { "content-type": "application/grpc", "grpc-encoding": "gzip" })),
    ).toBe(false);
    expect(isFastRead(req(READ_PATH, { "content-type": "application/grpc+json" }))).toBe(false);
    expect(
      isFastRead(
        req("/containerd.services.content.v1.Content/Info", { "content-type": "application/grpc" }),
      ),
    ).toBe(false);
  });
});
