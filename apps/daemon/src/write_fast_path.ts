import { once } from "node:events";
import type http2 from "node:http2";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type WriteContentRequest,
  WriteContentRequestSchema,
  WriteContentResponseSchema,
} from "@strata/api/content";
import {
  chunkBatches,
  envelope,
  type MessagePart,
  StreamedMessageDecoder,
} from "@strata/api/grpc-wire";
import { InvalidArgumentError } from "@strata/errdefs";
import { closeSignal, endCall, isPlainGrpcCall, startResponse } from "./_plain_grpc.ts";
import { WriteSession } from "./services/_write_session.ts";
import { type ContentBackend, contentStoreOf } from "./services/content.ts";

/** The gRPC path {@link writeFastPath} serves. */
export const WRITE_PATH = "/containerd.services.content.v1.Content/Write";

/** WriteContentRequest's `data` field. */
const DATA_FIELD = 6;
/** Bytes received and not yet written before the request is paused (one message of the Strata client). */
const QUEUED_BYTES = 4 << 20;

/** Whether {@link writeFastPath} can serve this request: containerd's Write in plain gRPC. */
export function isFastWrite(req: http2.Http2ServerRequest): boolean {
  return isPlainGrpcCall(req, WRITE_PATH);
}

function decode(fields: Uint8Array): WriteContentRequest {
  try {
    return fromBinary(WriteContentRequestSchema, fields);
  } catch (err) {
    throw new InvalidArgumentError(`Write request does not decode: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

// The fields that may follow the data of a message: only a commit's labels.
// Anything else there would change a write already under way.
function labelsAfterData(fields: Uint8Array): Record<string, string> {
  const rest = decode(fields);
  if (
    rest.action !== 0 ||
    rest.ref !== "" ||
    rest.total !== 0n ||
    rest.expected !== "" ||
    rest.offset !== 0n
  ) {
    throw new InvalidArgumentError(
      "Write request has fields other than labels after its data: send action, ref, total, expected and offset first (field order)",
    );
  }
  return rest.labels;
}

/**
 * Serves containerd's Content.Write without joining each message: the data
 * of a message goes to the ingest piece by piece as HTTP/2 delivers it, and
 * the reply leaves as soon as its last piece is written. The general path
 * copies every message (up to 16 MiB) into one buffer first, which cost a
 * copy and a large allocation per message and made the client wait for the
 * whole message before the daemon began. The protocol (namespaces, leases,
 * refs, offsets, commits, errors) is the Content service's, through the
 * same {@link WriteSession}.
 */
export async function writeFastPath(
  backend: ContentBackend,
  req: http2.Http2ServerRequest,
  res: http2.Http2ServerResponse,
  options: { maxMessageBytes: number },
): Promise<void> {
  const stream = res.stream;
  const closed = closeSignal(res, "Write");
  let session: WriteSession | undefined;
  // The writer is released before the status goes out: a client that sees
  // the call end may open the same ref again at once.
  const finish = async (open: WriteSession | undefined, err?: unknown) => {
    await open?.close();
    endCall(res, err);
  };
  try {
    const store = await contentStoreOf(backend, req.headers);
    const writes = new WriteSession(store, closed.signal);
    session = writes;
    startResponse(res);
    const decoder = new StreamedMessageDecoder({
      field: DATA_FIELD,
      maxMessageBytes: options.maxMessageBytes,
    });
    let head: WriteContentRequest | undefined;
    // One part of a message; true once the write is committed.
    const take = async (part: MessagePart): Promise<boolean> => {
      if (part.kind === "head") {
        head = decode(part.fields);
        await writes.begin(head);
        return false;
      }
      if (part.kind === "data") {
        await writes.data(part.bytes);
        return false;
      }
      let labels: Record<string, string> | undefined;
      if (part.streamed) {
        labels = { ...head?.labels, ...labelsAfterData(part.fields) };
      } else {
        await writes.begin(decode(part.fields));
      }
      head = undefined;
      const { reply, done } = await writes.end(labels);
      const ok = res.write(envelope(toBinary(WriteContentResponseSchema, reply)));
      // Closing the stream aborts the signal, which ends this wait.
      if (!ok && !done) await once(stream, "drain", { signal: closed.signal });
      return done;
    };
    for await (const batch of chunkBatches(req, { highWaterBytes: QUEUED_BYTES })) {
      for (const chunk of batch) {
        for (const part of decoder.push(chunk)) {
          // containerd's protocol ends with the commit, whatever follows.
          if (await take(part)) return await finish(writes);
        }
      }
    }
    closed.signal.throwIfAborted();
    decoder.finish();
    await finish(session);
  } catch (err) {
    await finish(session, err);
  } finally {
    closed.dispose();
  }
}
