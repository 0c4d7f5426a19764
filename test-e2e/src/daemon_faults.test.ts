// stratad under faults, as a real process on a unix socket: killed with
// SIGKILL in the middle of a large Write and restarted on the same root (the
// ingest resumes); 200 clients at once; and hostile or broken clients
// (garbage bytes, an undecodable body, an oversized message, streams that
// stall) that must not stop the daemon or disturb the other clients.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http2 from "node:http2";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Store } from "@strata/content";
import { daemonTransport, RemoteContentStore, RemoteLeaseManager } from "@strata/core/remote";
import { isNotFound } from "@strata/errdefs";
import type { Digest } from "@strata/oci";
import { afterAll, describe, expect, it } from "vitest";
import { requireProgram } from "./_daemons.ts";

const repo = join(import.meta.dirname, "..", "..");
const NAMESPACE = "faults";

// A stratad child process whose root outlives it, so that it can be killed
// and started again on the same root and socket.
class Stratad {
  readonly dir: string;
  readonly socket: string;
  readonly #flags: readonly string[];
  #child: ChildProcess | undefined;
  #stderr = "";

  constructor(dir: string, flags: readonly string[] = []) {
    this.dir = dir;
    this.socket = join(dir, "stratad.sock");
    this.#flags = flags;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  alive(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && !this.#child.signalCode;
  }

  log(): string {
    return this.#stderr.slice(-4000);
  }

  async start(): Promise<void> {
    await rm(this.socket, { force: true });
    const child = spawn(
      process.execPath,
      [
        join(repo, "apps/daemon/src/main.ts"),
        "--root",
        join(this.dir, "root"),
        "--socket",
        this.socket,
        ...this.#flags,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    child.stderr?.on("data", (d: Buffer) => {
      this.#stderr += d.toString();
    });
    this.#child = child;
    const deadline = Date.now() + 15_000;
    while (!existsSync(this.socket)) {
      if (!this.alive()) throw new Error(`stratad exited:\n${this.log()}`);
      if (Date.now() > deadline) throw new Error(`stratad did not start:\n${this.log()}`);
      await sleep(25);
    }
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.#child;
    if (child === undefined || !this.alive()) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    await this.kill("SIGTERM");
    await rm(this.dir, { recursive: true, force: true });
  }
}

const started: Stratad[] = [];
async function stratad(flags: readonly string[] = []): Promise<Stratad> {
  const d = new Stratad(await mkdtemp(join(tmpdir(), "e2e-faults-")), flags);
  started.push(d);
  await d.start();
  return d;
}

afterAll(async () => {
  await Promise.all(started.map((d) => d.stop()));
}, 30_000);

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// A store on its own HTTP/2 connection, under `lease` (content nothing holds is garbage).
function client(socket: string, lease: string): RemoteContentStore {
  return new RemoteContentStore(daemonTransport(`unix://${socket}`), {
    namespace: NAMESPACE,
    lease,
  });
}

async function createLease(socket: string, id: string): Promise<string> {
  const leases = new RemoteLeaseManager(daemonTransport(`unix://${socket}`), {
    namespace: NAMESPACE,
  });
  return (await leases.create({ id })).id;
}

function sha256(data: Uint8Array): Digest {
  return `sha256:${createHash("sha256").update(data).digest("hex")}` as Digest;
}

async function putBlob(store: Store, ref: string, data: Uint8Array): Promise<Digest> {
  const digest = sha256(data);
  const writer = await store.writer({ ref, desc: { digest, size: data.byteLength } });
  try {
    await writer.write(data);
    await writer.commit(data.byteLength, digest);
  } finally {
    await writer.close();
  }
  return digest;
}

// Reads a blob back whole through readAt and returns its digest.
async function readDigest(store: Store, digest: Digest): Promise<Digest> {
  const reader = await store.readerAt({ digest });
  try {
    const hash = createHash("sha256");
    const buf = new Uint8Array(Math.min(reader.size, 4 << 20));
    for (let at = 0; at < reader.size; ) {
      const n = await reader.readAt(buf, at);
      if (n <= 0) throw new Error(`short read of ${digest} at ${at}`);
      hash.update(buf.subarray(0, n));
      at += n;
    }
    return `sha256:${hash.digest("hex")}` as Digest;
  } finally {
    await reader.close();
  }
}

// The bytes of a large test blob, reproducible from any offset so that a
// resumed write can send the rest: 1 MiB blocks of one random pattern, each
// stamped with its index.
const BLOCK = 1 << 20;
const pattern = randomBytes(BLOCK);
function block(index: number): Uint8Array {
  const b = Buffer.from(pattern);
  b.writeUInt32BE(index, 0);
  return b;
}
function* bytesFrom(offset: number, size: number): Generator<Uint8Array> {
  for (let at = offset; at < size; ) {
    const index = Math.floor(at / BLOCK);
    const start = at - index * BLOCK;
    const chunk = block(index).subarray(start, Math.min(BLOCK, size - index * BLOCK));
    yield chunk;
    at += chunk.byteLength;
  }
}
function digestOfLarge(size: number): Digest {
  const hash = createHash("sha256");
  for (const chunk of bytesFrom(0, size)) hash.update(chunk);
  return `sha256:${hash.digest("hex")}` as Digest;
}

describe("stratad killed during a large Write", () => {
  it("resumes the same ref after a restart and commits the right digest", async () => {
    const d = await stratad();
    const size = 256 << 20;
    const expected = digestOfLarge(size);
    const lease = await createLease(d.socket, "big");
    const ref = "big-ingest";

    // Write until about 96 MiB have been acknowledged, then SIGKILL the
    // daemon while the next messages are in flight.
    const first = await client(d.socket, lease).writer({
      ref,
      desc: { digest: expected, size },
    });
    let sent = 0;
    const killAt = 96 << 20;
    const writing = (async () => {
      for (const chunk of bytesFrom(0, size)) {
        if (sent >= killAt) break;
        await first.write(chunk);
        sent += chunk.byteLength;
      }
    })();
    while (sent < killAt) {
      await Promise.race([writing, sleep(5)]);
    }
    // Queue one more write so the kill lands with data on the wire.
    const inFlight = first.write(block(999)).catch((err: unknown) => err);
    await d.kill("SIGKILL");
    await writing.catch(() => undefined);
    expect(await inFlight).toBeInstanceOf(Error);
    await first.close();

    await d.start();
    const store = client(d.socket, lease);
    const active = await store.status(ref);
    // Nearly all of it survived: the store batches file writes by 4 MiB, so
    // the last acknowledged batch may be lost with the process; the ingest's
    // offset says where the file really ends and the client resumes there.
    expect(active.offset).toBeGreaterThanOrEqual(killAt - (8 << 20));
    expect(active.offset).toBeLessThanOrEqual(killAt + BLOCK);
    const writer = await store.writer({ ref, desc: { digest: expected, size } });
    try {
      const { offset } = await writer.status();
      expect(offset).toBe(active.offset);
      for (const chunk of bytesFrom(offset, size)) await writer.write(chunk);
      await writer.commit(size, expected);
    } finally {
      await writer.close();
    }
    expect(writer.digest()).toBe(expected);
    expect((await store.info(expected)).size).toBe(size);
    expect(await readDigest(store, expected)).toBe(expected);
    await expect(store.status(ref)).rejects.toSatisfy(isNotFound);
  }, 180_000);
});

describe("stratad under 200 concurrent clients", () => {
  it("loses nothing any client committed", async () => {
    const d = await stratad();
    const lease = await createLease(d.socket, "load");
    const clients = 200;
    const until = Date.now() + 10_000;
    const committed: { digest: Digest; size: number }[] = [];
    const failures: unknown[] = [];
    let reads = 0;
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        const store = client(d.socket, lease);
        for (let i = 0; Date.now() < until; i++) {
          try {
            // Sizes from a few bytes to 256 KiB, and now and then several MiB.
            const size =
              i % 16 === 15 ? (2 << 20) + c : 1 + ((c * 7919 + i * 104_729) % (256 << 10));
            const data = randomBytes(size);
            const digest = await putBlob(store, `load-${c}-${i}`, data);
            committed.push({ digest, size });
            // Read back something committed, by any client.
            const other = committed[(c * 31 + i) % committed.length] as (typeof committed)[0];
            expect(await readDigest(store, other.digest)).toBe(other.digest);
            reads++;
          } catch (err) {
            failures.push(err);
            return;
          }
        }
      }),
    );
    expect(failures, d.log()).toEqual([]);
    expect(d.alive()).toBe(true);
    expect(committed.length).toBeGreaterThan(clients);
    expect(reads).toBe(committed.length);
    // Every committed blob is there, whole, with its digest.
    const store = client(d.socket, lease);
    for (const { digest, size } of committed) {
      expect((await store.info(digest)).size).toBe(size);
      expect(await readDigest(store, digest)).toBe(digest);
    }
    const listed = new Set<string>();
    await store.walk((info) => {
      listed.add(info.digest);
    });
    for (const { digest } of committed) expect(listed.has(digest)).toBe(true);
  }, 120_000);
});

describe("ctr reading a large blob from stratad", () => {
  // ctr reads with one Read call per ReadAt and cancels each when its buffer
  // is full: thousands of stream resets a second, which HTTP/2 servers
  // guarding against "rapid reset" floods treat as an attack.
  it("gets 96 MiB through thousands of cancelled Read calls", async () => {
    await requireProgram("ctr");
    const d = await stratad();
    const size = 96 << 20;
    const expected = digestOfLarge(size);
    const lease = await createLease(d.socket, "ctr-read");
    const store = client(d.socket, lease);
    const writer = await store.writer({ ref: "for-ctr", desc: { digest: expected, size } });
    for (const chunk of bytesFrom(0, size)) await writer.write(chunk);
    await writer.commit(size, expected);
    await writer.close();
    const out = await new Promise<{ code: number | null; digest: string; bytes: number }>(
      (resolve) => {
        const child = spawn("ctr", ["-a", d.socket, "-n", NAMESPACE, "content", "get", expected], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        const hash = createHash("sha256");
        let bytes = 0;
        child.stdout?.on("data", (b: Buffer) => {
          hash.update(b);
          bytes += b.length;
        });
        child.on("close", (code) =>
          resolve({ code, digest: `sha256:${hash.digest("hex")}`, bytes }),
        );
      },
    );
    expect(out).toEqual({ code: 0, digest: expected, bytes: size });
    expect(d.alive()).toBe(true);
  }, 120_000);
});

// --- raw HTTP/2 and gRPC, to send what no well-behaved client sends ---

const CONTENT = "/containerd.services.content.v1.Content";

// A gRPC frame: compressed flag, 4-byte big-endian length, then `body`
// (`length` may lie about it).
function frame(body: Uint8Array, length = body.byteLength): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, body]);
}

// A protobuf message with one string field 1 (InfoRequest.digest, ReadContentRequest.digest).
function stringField1(value: string): Buffer {
  const bytes = Buffer.from(value);
  if (bytes.byteLength > 127) throw new Error("test helper: string too long");
  return Buffer.concat([Buffer.from([0x0a, bytes.byteLength]), bytes]);
}

interface RawResult {
  /** grpc-status from the headers or trailers; undefined when the stream was reset. */
  status: string | undefined;
  message: string | undefined;
  /** The RST_STREAM code the stream closed with (0: none). */
  rstCode: number;
  bytes: number;
}

// Opens one gRPC call on its own connection; `send` writes the request
// bytes (or nothing, to stall), `read: false` leaves the response unread.
function rawCall(
  socket: string,
  method: string,
  options: { send?: (s: http2.ClientHttp2Stream) => void; read?: boolean },
): { result: Promise<RawResult>; session: http2.ClientHttp2Session } {
  const session = http2.connect("http://localhost", {
    createConnection: () => netConnect(socket),
    // The client buffers an oversized message whole; Node's 10 MB default would reset it here.
    maxSessionMemory: 64,
  });
  session.on("error", () => undefined);
  const stream = session.request({
    ":method": "POST",
    ":path": `${CONTENT}/${method}`,
    "content-type": "application/grpc",
    te: "trailers",
    "containerd-namespace": NAMESPACE,
  });
  const result = new Promise<RawResult>((resolve) => {
    let status: string | undefined;
    let message: string | undefined;
    let bytes = 0;
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) message = decodeURIComponent(String(h["grpc-message"]));
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("error", () => undefined);
    if (options.read !== false) {
      stream.on("data", (d: Buffer) => {
        bytes += d.byteLength;
      });
    }
    stream.on("close", () => resolve({ status, message, rstCode: stream.rstCode ?? 0, bytes }));
  });
  options.send?.(stream);
  return { result, session };
}

const GRPC = { INVALID_ARGUMENT: "3", NOT_FOUND: "5", RESOURCE_EXHAUSTED: "8", INTERNAL: "13" };

describe("stratad facing broken and hostile clients", () => {
  const IDLE_MS = 1500;
  let d: Stratad;
  let lease: string;
  // Well-behaved clients that keep ingesting and reading while the faults
  // happen; any error they meet fails the test.
  let stopHealthy: () => Promise<{ rounds: number; failures: unknown[] }>;

  it("starts with healthy clients working", async () => {
    d = await stratad(["--stream-idle-timeout", `${IDLE_MS}ms`, "--max-message-size", "16MiB"]);
    lease = await createLease(d.socket, "healthy");
    let running = true;
    let rounds = 0;
    const failures: unknown[] = [];
    const loops = Array.from({ length: 4 }, async (_, c) => {
      const store = client(d.socket, lease);
      for (let i = 0; running; i++) {
        try {
          const data = randomBytes(64 << 10);
          const digest = await putBlob(store, `healthy-${c}-${i}`, data);
          expect(await readDigest(store, digest)).toBe(digest);
          rounds++;
        } catch (err) {
          failures.push(err);
          return;
        }
      }
    });
    stopHealthy = async () => {
      running = false;
      await Promise.all(loops);
      return { rounds, failures };
    };
    await sleep(200);
    expect(rounds).toBeGreaterThan(0);
  }, 30_000);

  it("drops a connection that sends garbage bytes instead of HTTP/2", async () => {
    for (const junk of [
      randomBytes(64 << 10),
      Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      // The HTTP/2 preface, then frames of nonsense.
      Buffer.concat([Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), randomBytes(8192)]),
    ]) {
      const sock = netConnect(d.socket);
      sock.on("error", () => undefined);
      const closed = new Promise<void>((r) => sock.once("close", () => r()));
      sock.on("data", () => undefined);
      sock.write(junk);
      await Promise.race([
        closed,
        sleep(10_000).then(() => Promise.reject(new Error("connection with garbage kept open"))),
      ]);
    }
    expect(d.alive()).toBe(true);
  });

  it("answers an undecodable protobuf body with an error and keeps serving", async () => {
    // Field 1 claims 2^28 bytes that are not there.
    const bad = Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x01, 0x41]);
    const { result, session } = rawCall(d.socket, "Info", { send: (s) => s.end(frame(bad)) });
    const res = await result;
    session.close();
    expect([GRPC.INVALID_ARGUMENT, GRPC.INTERNAL]).toContain(res.status);
    // A frame shorter than its header says, then the end of the stream.
    const short = rawCall(d.socket, "Info", {
      send: (s) => s.end(frame(stringField1("sha256:ab"), 100)),
    });
    const r2 = await short.result;
    short.session.close();
    expect(r2.status).not.toBe("0");
    expect(r2.status ?? String(r2.rstCode)).toBeDefined();
    // The same call, well formed, still works on a fresh connection.
    const good = rawCall(d.socket, "Info", {
      send: (s) => s.end(frame(stringField1(`sha256:${"a".repeat(64)}`))),
    });
    const r3 = await good.result;
    good.session.close();
    expect(r3.status).toBe(GRPC.NOT_FOUND);
    expect(d.alive()).toBe(true);
  });

  it("refuses a message over the maximum size with RESOURCE_EXHAUSTED", async () => {
    // A real 17 MiB message (a Write carrying 17 MiB), over the 16 MiB limit.
    const data = Buffer.alloc(17 << 20, 7);
    const body = Buffer.concat([
      Buffer.from([0x08, 0x01]), // action: WRITE
      Buffer.from([0x12, 0x03]),
      Buffer.from("big"), // ref
      Buffer.from([0x32]), // data (field 6, bytes)
      varint(data.byteLength),
      data,
    ]);
    const big = rawCall(d.socket, "Write", { send: (s) => s.end(frame(body)) });
    const r1 = await big.result;
    big.session.close();
    expect(r1.status, r1.message).toBe(GRPC.RESOURCE_EXHAUSTED);
    // A header that claims 1 GiB, with no body behind it: refused from the header alone.
    const claims = rawCall(d.socket, "Info", {
      send: (s) => s.write(frame(Buffer.alloc(0), 1 << 30)),
    });
    const r2 = await claims.result;
    claims.session.close();
    expect(r2.status, r2.message).toBe(GRPC.RESOURCE_EXHAUSTED);
    expect(d.alive()).toBe(true);
    // Nothing of the refused write was stored.
    const store = client(d.socket, lease);
    await expect(store.status("big")).rejects.toSatisfy(isNotFound);
  }, 30_000);

  it("cuts a Write that stalls after the idle timeout", async () => {
    const t0 = Date.now();
    // Headers only: the stream is open and nothing more comes.
    const stalled = rawCall(d.socket, "Write", {});
    const res = await stalled.result;
    const waited = Date.now() - t0;
    stalled.session.close();
    expect(res.rstCode === http2.constants.NGHTTP2_CANCEL || res.status !== undefined).toBe(true);
    expect(waited).toBeGreaterThanOrEqual(IDLE_MS - 100);
    expect(waited).toBeLessThan(IDLE_MS + 5000);
    expect(d.alive()).toBe(true);
  }, 30_000);

  it("cuts a Write that stalls after its first message, and the ingest stays resumable", async () => {
    const stalled = rawCall(d.socket, "Write", {
      send: (s) => {
        // WRITE of 5 bytes at offset 0 for ref "stalled", then silence.
        const body = Buffer.concat([
          Buffer.from([0x08, 0x01, 0x12, 0x07]),
          Buffer.from("stalled"),
          Buffer.from([0x32, 0x05]),
          Buffer.from("hello"),
        ]);
        s.write(frame(body));
      },
    });
    const res = await stalled.result;
    stalled.session.close();
    expect(res.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    const store = client(d.socket, lease);
    expect((await store.status("stalled")).offset).toBe(5);
    await store.abort("stalled");
  }, 30_000);

  it("cuts a Read whose client stops reading after the idle timeout", async () => {
    const store = client(d.socket, lease);
    const data = randomBytes(32 << 20);
    const digest = await putBlob(store, "to-read", data);
    const t0 = Date.now();
    const stalled = rawCall(d.socket, "Read", {
      send: (s) => s.end(frame(stringField1(digest))),
      read: false,
    });
    const res = await stalled.result;
    const waited = Date.now() - t0;
    stalled.session.close();
    expect(res.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    expect(waited).toBeGreaterThanOrEqual(IDLE_MS - 100);
    // Others read the same blob meanwhile and after.
    expect(await readDigest(store, digest)).toBe(digest);
    expect(d.alive()).toBe(true);
  }, 60_000);

  it("kept the healthy clients working through all of it", async () => {
    const { rounds, failures } = await stopHealthy();
    expect(failures, d.log()).toEqual([]);
    expect(rounds).toBeGreaterThan(10);
    expect(d.alive()).toBe(true);
    expect(d.log()).toMatch(/cutting a stalled stream/);
  }, 30_000);
});

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
