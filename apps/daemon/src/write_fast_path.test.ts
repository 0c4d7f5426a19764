// containerd's Write as stratad serves it outside the general gRPC handler:
// replies, stored blobs and the statuses of bad requests, seen on the wire by
// a plain HTTP/2 client that frames the messages itself, in any split.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import type http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  WriteAction,
  type WriteContentRequest,
  WriteContentRequestSchema,
  type WriteContentResponse,
  WriteContentResponseSchema,
} from "@strata/api/content";
import { envelope } from "@strata/api/grpc-wire";
import { daemonTransport, RemoteContentStore, RemoteLeaseManager } from "@strata/core/remote";
import type { Digest } from "@strata/oci";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { messagesOf, rawGrpcCall } from "./_raw_grpc_client.ts";
import { defaultConfig } from "./config.ts";
import { type Daemon, startDaemon } from "./daemon.ts";
import { createLogger } from "./log.ts";
import { isFastWrite, WRITE_PATH } from "./write_fast_path.ts";

let dir: string;
let daemon: Daemon;
let store: RemoteContentStore;
const NAMESPACE = "w";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "stratad-write-"));
  daemon = await startDaemon(
    {
      ...defaultConfig({}),
      root: join(dir, "root"),
      socket: join(dir, "s.sock"),
      maxMessageBytes: 1 << 20,
    },
    createLogger("error", { write: () => true }),
  );
  const transport = daemonTransport(daemon.server.socket);
  await new RemoteLeaseManager(transport, { namespace: NAMESPACE }).create({ id: "keep" });
  store = new RemoteContentStore(transport, { namespace: NAMESPACE });
});

afterAll(async () => {
  await daemon.shutdown(1000);
  await rm(dir, { recursive: true, force: true });
});

interface Reply {
  status: string | undefined;
  message: string;
  replies: WriteContentResponse[];
}

/** One Write call carrying `body`, sent in pieces of `step` bytes. */
async function rawWrite(
  body: Uint8Array,
  options: { step?: number; headers?: http2.OutgoingHttpHeaders } = {},
): Promise<Reply> {
  const reply = await rawGrpcCall(daemon.server.socket, WRITE_PATH, body, {
    namespace: NAMESPACE,
    headers: { "containerd-lease": "keep", ...options.headers },
    ...(options.step !== undefined ? { step: options.step } : {}),
  });
  const replies = messagesOf(reply.body).map((m) => fromBinary(WriteContentResponseSchema, m));
  return { status: reply.status, message: reply.message, replies };
}

function message(init: Parameters<typeof create<typeof WriteContentRequestSchema>>[1]): Buffer {
  const msg: WriteContentRequest = create(WriteContentRequestSchema, init);
  return Buffer.from(envelope(toBinary(WriteContentRequestSchema, msg)));
}

async function blobCount(): Promise<number> {
  let n = 0;
  await store.walk(() => {
    n++;
  });
  return n;
}

function digestOf(data: Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}` as Digest;
}

describe("writeFastPath", () => {
  for (const step of [1, 4099, 1 << 20]) {
    it(`stores a blob written in two messages and committed, sent in pieces of ${step} bytes`, async () => {
      const blob = randomBytes(step === 1 ? 3000 : 700_000);
      const digest = digestOf(blob);
      const half = blob.length >> 1;
      const body = Buffer.concat([
        message({ action: WriteAction.STAT, ref: `split-${step}`, total: BigInt(blob.length) }),
        message({ action: WriteAction.WRITE, offset: 0n, data: blob.subarray(0, half) }),
        message({
          action: WriteAction.COMMIT,
          offset: BigInt(half),
          total: BigInt(blob.length),
          expected: digest,
          data: blob.subarray(half),
          labels: { "strata.test/step": String(step) },
        }),
      ]);
      const reply = await rawWrite(body, { step });
      expect(reply.status).toBe("0");
      expect(reply.replies.map((r) => [r.action, r.offset])).toEqual([
        [WriteAction.STAT, 0n],
        [WriteAction.WRITE, BigInt(half)],
        [WriteAction.COMMIT, BigInt(blob.length)],
      ]);
      expect(reply.replies[2]?.digest).toBe(digest);
      // The labels came after the data on the wire.
      const info = await store.info(digest);
      expect(info.labels).toEqual({ "strata.test/step": String(step) });
      const reader = await store.readerAt({ digest });
      const back = new Uint8Array(blob.length);
      expect(await reader.readAt(back, 0)).toBe(blob.length);
      await reader.close();
      expect(Buffer.from(back).equals(blob)).toBe(true);
    });
  }

  it("leaves an unfinished write resumable at its offset", async () => {
    const data = randomBytes(5000);
    const reply = await rawWrite(
      Buffer.concat([
        message({ action: WriteAction.STAT, ref: "unfinished" }),
        message({ action: WriteAction.WRITE, offset: 0n, data }),
      ]),
    );
    expect(reply.status).toBe("0");
    expect((await store.status("unfinished")).offset).toBe(5000);
    await store.abort("unfinished");
  });

  it("answers bad requests with containerd's statuses and stores nothing", async () => {
    const blobsBefore = await blobCount();
    const stat = message({ action: WriteAction.STAT, ref: "bad" });
    // No ref on the first message.
    expect((await rawWrite(message({ action: WriteAction.STAT }))).status).toBe("3");
    // A write past the ingest's offset.
    const past = await rawWrite(
      Buffer.concat([
        stat,
        message({ action: WriteAction.WRITE, offset: 10n, data: randomBytes(4) }),
      ]),
    );
    expect(past.status).toBe("11");
    // A commit with the wrong digest: FailedPrecondition, the ingest kept.
    const wrong = await rawWrite(
      Buffer.concat([
        stat,
        message({
          action: WriteAction.COMMIT,
          offset: 0n,
          data: randomBytes(10),
          expected: digestOf(Buffer.from("other")),
        }),
      ]),
    );
    expect(wrong.status).toBe("9");
    await store.abort("bad");
    // Malformed framing and messages.
    expect((await rawWrite(Buffer.concat([stat, Buffer.from([0, 0, 0, 0, 9, 1])]))).status).toBe(
      "3",
    );
    expect((await rawWrite(Buffer.from(envelope(Uint8Array.of(0x0b, 0x0c))))).status).toBe("3");
    // Fields after the data that would change the write.
    const reordered = Buffer.from(
      envelope(Uint8Array.of(0x12, 1, 0x78, 0x32, 2, 1, 2, 0x28, 0x05)),
    );
    const moved = await rawWrite(reordered);
    expect(moved.status).toBe("3");
    expect(moved.message).toMatch(/after its data/);
    // A message over the daemon's limit (1 MiB here), refused from its header.
    const huge = Buffer.alloc(5);
    huge.writeUInt32BE(2 << 20, 1);
    const over = await rawWrite(Buffer.concat([stat, huge, Buffer.alloc(64 << 10)]));
    expect(over.status).toBe("8");
    // Without a namespace the write goes to the bare (proxy) store, not this namespace's.
    const bare = await rawWrite(stat, { headers: { "containerd-namespace": "" } });
    expect(bare.status).toBe("0");
    // What the STATs opened is there to resume or abort, as in containerd; no blob.
    expect((await store.listStatuses()).map((s) => s.ref).sort()).toEqual(["bad", "x"]);
    await store.abort("bad");
    await store.abort("x");
    expect(await blobCount()).toBe(blobsBefore);
  });

  it("serves a compressed Write through the general handler", async () => {
    const blob = randomBytes(2000);
    const digest = digestOf(blob);
    const compressed = (m: Buffer) => {
      const body = gzipSync(m.subarray(5));
      const out = Buffer.alloc(5 + body.length);
      out[0] = 1;
      out.writeUInt32BE(body.length, 1);
      body.copy(out, 5);
      return out;
    };
    const reply = await rawWrite(
      Buffer.concat([
        compressed(message({ action: WriteAction.STAT, ref: "gz" })),
        compressed(
          message({ action: WriteAction.COMMIT, offset: 0n, data: blob, expected: digest }),
        ),
      ]),
      { headers: { "grpc-encoding": "gzip" } },
    );
    expect(reply.status).toBe("0");
    expect((await store.info(digest)).size).toBe(2000);
  });
});

describe("isFastWrite", () => {
  it("takes plain gRPC Writes only", () => {
    const req = (url: string, headers: Record<string, string>) =>
      ({ method: "POST", url, headers }) as unknown as http2.Http2ServerRequest;
    expect(isFastWrite(req(WRITE_PATH, { "content-type": "application/grpc" }))).toBe(true);
    expect(
      isFastWrite(req(WRITE_PATH, { "content-type": "application/grpc", "grpc-encoding": "gzip" })),
    ).toBe(false);
  });
});
