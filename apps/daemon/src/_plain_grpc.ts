import type http2 from "node:http2";
import type { Readable } from "node:stream";
import { toGrpcStatus } from "@strata/errdefs";

/**
 * Whether a request is a plain gRPC call to `path`: POST, protobuf, and no
 * request compression, the calls the fast paths serve. Anything else goes
 * to the general handler.
 */
export function isPlainGrpcCall(req: http2.Http2ServerRequest, path: string): boolean {
  const encoding = req.headers["grpc-encoding"];
  return (
    req.method === "POST" &&
    req.url === path &&
    (encoding === undefined || encoding === "identity") &&
    /^application\/grpc(\+proto)?$/.test(String(req.headers["content-type"] ?? ""))
  );
}

/** Sends the response headers of a gRPC call, once. */
export function startResponse(res: http2.Http2ServerResponse): void {
  if (!res.headersSent) res.writeHead(200, { "content-type": "application/grpc+proto" });
}

/**
 * Ends a gRPC call with the status of `err` (success without one) in the
 * trailers. Through the compatibility response, which owns the trailers;
 * nothing when the client already went away.
 */
export function endCall(res: http2.Http2ServerResponse, err?: unknown): void {
  const stream = res.stream;
  if (stream.destroyed || stream.closed) return;
  startResponse(res);
  if (err === undefined) {
    res.addTrailers({ "grpc-status": "0" });
  } else {
    const status = toGrpcStatus(err);
    res.addTrailers({
      "grpc-status": String(status.code),
      "grpc-message": encodeURIComponent(status.message),
    });
  }
  res.end();
}

/**
 * A request body in flowing mode: the chunks that arrived since the last
 * batch, taken all at once. Paused above `highWaterBytes` queued, resumed
 * below half of it. Reading a request through its async iterator instead
 * pauses it every 64 KiB (the stream's high-water mark), which withholds
 * HTTP/2 window updates from the client: a 1 GiB Write took twice as long.
 * Ends when the request ends; a destroyed request rejects.
 */
export async function* chunkBatches(
  req: Readable,
  options: { highWaterBytes: number },
): AsyncGenerator<Buffer[], void, undefined> {
  let queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onData = (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.byteLength;
    if (queued > options.highWaterBytes) req.pause();
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  const onClose = () => {
    if (!ended) failure ??= new Error("the request was closed before its end");
    wake?.();
  };
  const onError = (err: Error) => {
    failure ??= err;
    wake?.();
  };
  req.on("data", onData);
  req.once("end", onEnd);
  req.once("close", onClose);
  req.once("error", onError);
  try {
    for (;;) {
      if (queue.length > 0) {
        const batch = queue;
        queue = [];
        queued = 0;
        if (req.isPaused()) req.resume();
        yield batch;
        continue;
      }
      if (ended) return;
      if (failure !== undefined) throw failure;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    req.off("data", onData);
    req.off("end", onEnd);
    req.off("close", onClose);
    req.off("error", onError);
  }
}
