import { once } from "node:events";
import type http2 from "node:http2";
import { ReadContentRequestSchema } from "@strata/api/content";
import { putVarint, varintLength } from "@strata/api/grpc-wire";
import type { ReaderAt } from "@strata/content";
import { OutOfRangeError } from "@strata/errdefs";
import { validateDigest } from "@strata/oci";
import {
  closeSignal,
  endCall,
  isPlainGrpcCall,
  readSingleMessage,
  startResponse,
} from "./_plain_grpc.ts";
import { type ContentBackend, contentStoreOf } from "./services/content.ts";

/** The gRPC path {@link readFastPath} serves. */
export const READ_PATH = "/containerd.services.content.v1.Content/Read";

// Bytes of blob per message, as containerd's server sends them.
const CHUNK = 1 << 20;
// Room before the data for the envelope (5) and the message's field headers:
// offset (tag + up to 10 varint bytes) and data (tag + up to 5).
const HEAD_ROOM = 5 + 1 + 10 + 1 + 5;
// A ReadContentRequest is a digest and two numbers.
const MAX_REQUEST_BYTES = 4096;
// Buffers in flight per call: reading the next chunk overlaps sending this one.
const POOL = 3;

/** Whether {@link readFastPath} can serve this request: containerd's Read in plain gRPC. */
export function isFastRead(req: http2.Http2ServerRequest): boolean {
  return isPlainGrpcCall(req, READ_PATH);
}

/**
 * Serves containerd's Content.Read without the general gRPC machinery:
 * each message is one buffer (envelope, message header and the blob bytes
 * read straight into it), reused once HTTP/2 has sent it. The general path
 * builds the message, serializes it and copies it into an envelope, three
 * 1 MiB allocations per chunk whose garbage collection cost most of the
 * time of a large read. The behaviour (namespaces, leases, offsets, sizes,
 * errors) is the Content service's.
 */
export async function readFastPath(
  backend: ContentBackend,
  req: http2.Http2ServerRequest,
  res: http2.Http2ServerResponse,
): Promise<void> {
  const stream = res.stream;
  const closed = closeSignal(res, "Read");
  let reader: ReaderAt | undefined;
  try {
    const request = await readSingleMessage(req, ReadContentRequestSchema, MAX_REQUEST_BYTES);
    const digest = validateDigest(request.digest);
    const store = await contentStoreOf(backend, req.headers);
    reader = await store.readerAt({ digest }, { signal: closed.signal });
    const offset = request.offset < 0n ? 0 : Number(request.offset);
    if (offset > reader.size) {
      throw new OutOfRangeError(
        `read offset ${offset} is past the end of ${digest} (${reader.size} bytes)`,
      );
    }
    const asked = Number(request.size);
    const end = asked <= 0 || offset + asked > reader.size ? reader.size : offset + asked;
    startResponse(res);
    const size = Math.min(CHUNK, Math.max(end - offset, 0));
    // Buffers come back when HTTP/2 is done with them (the write callback).
    const free: Buffer[] = [];
    let allocated = 0;
    let freed: (() => void) | undefined;
    const give = (buf: Buffer) => {
      free.push(buf);
      freed?.();
    };
    const take = async (): Promise<Buffer> => {
      for (;;) {
        const buf = free.pop();
        if (buf !== undefined) return buf;
        if (allocated < POOL) {
          allocated++;
          return Buffer.allocUnsafe(HEAD_ROOM + size);
        }
        const wake = new Promise<void>((resolve) => {
          freed = resolve;
        });
        const onAbort = () => freed?.();
        closed.signal.addEventListener("abort", onAbort, { once: true });
        await wake;
        closed.signal.removeEventListener("abort", onAbort);
        freed = undefined;
        closed.signal.throwIfAborted();
      }
    };
    for (let at = offset; at < end; ) {
      closed.signal.throwIfAborted();
      const buf = await take();
      const n = await reader.readAt(
        buf.subarray(HEAD_ROOM, HEAD_ROOM + Math.min(size, end - at)),
        at,
      );
      if (n <= 0) {
        give(buf);
        break;
      }
      // Right-align the headers against the data: envelope, offset, data.
      const fields = (at > 0 ? 1 + varintLength(at) : 0) + 1 + varintLength(n);
      const start = HEAD_ROOM - fields - 5;
      buf[start] = 0;
      buf.writeUInt32BE(fields + n, start + 1);
      let i = start + 5;
      if (at > 0) {
        buf[i++] = 0x08;
        i = putVarint(buf, i, at);
      }
      buf[i++] = 0x12;
      putVarint(buf, i, n);
      const ok = res.write(buf.subarray(start, HEAD_ROOM + n), () => give(buf));
      at += n;
      // Closing the stream aborts the signal, which ends this wait.
      if (!ok) await once(stream, "drain", { signal: closed.signal });
    }
    closed.signal.throwIfAborted();
    endCall(res);
  } catch (err) {
    endCall(res, err);
  } finally {
    closed.dispose();
    await reader?.close().catch(() => undefined);
  }
}
