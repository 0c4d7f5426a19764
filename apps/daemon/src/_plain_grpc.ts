import type http2 from "node:http2";
import { type DescMessage, fromBinary, type MessageShape } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import {
  fromGrpcStatus,
  InvalidArgumentError,
  ResourceExhaustedError,
  toGrpcStatus,
} from "@strata/errdefs";

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

/**
 * A signal that aborts when the call's stream closes (the client went away
 * or reset it), and `dispose` to stop watching once the call is over.
 */
export function closeSignal(
  res: http2.Http2ServerResponse,
  what: string,
): { signal: AbortSignal; dispose(): void } {
  const abort = new AbortController();
  const onClose = () => abort.abort(new Error(`the client closed the ${what} call`));
  res.stream.once("close", onClose);
  return { signal: abort.signal, dispose: () => res.stream.off("close", onClose) };
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
    // A service's ConnectError carries its gRPC code already.
    const status = toGrpcStatus(
      err instanceof ConnectError
        ? fromGrpcStatus({ code: err.code, message: err.rawMessage })
        : err,
    );
    res.addTrailers({
      "grpc-status": String(status.code),
      "grpc-message": encodeURIComponent(status.message),
    });
  }
  res.end();
}

/**
 * The one message of a unary call (or of a server-streaming call's
 * request), decoded as `schema`.
 *
 * @throws {ResourceExhaustedError} for a body over `maxBytes`.
 * @throws {InvalidArgumentError} for anything but one uncompressed, decodable message.
 */
export async function readSingleMessage<Desc extends DescMessage>(
  req: http2.Http2ServerRequest,
  schema: Desc,
  maxBytes: number,
): Promise<MessageShape<Desc>> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    // The envelope's length is refused as soon as it is in, as connect
    // does: a client may claim a huge message and send nothing behind it.
    if (total < 5 && total + chunk.byteLength >= 5) {
      const head = Buffer.concat([...chunks, chunk]);
      const claimed = head.readUInt32BE(1);
      if (claimed > maxBytes) {
        throw new ResourceExhaustedError(
          `${schema.typeName} request of ${claimed} bytes is larger than the limit of ${maxBytes}`,
        );
      }
    }
    total += chunk.byteLength;
    if (total > maxBytes + 5) {
      throw new ResourceExhaustedError(`${schema.typeName} request of more than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  if (body.byteLength < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.byteLength - 5) {
    throw new InvalidArgumentError(
      `${schema.typeName} request is not one uncompressed gRPC message (${body.byteLength} bytes)`,
    );
  }
  try {
    return fromBinary(schema, body.subarray(5));
  } catch (err) {
    throw new InvalidArgumentError(
      `${schema.typeName} request does not decode: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
