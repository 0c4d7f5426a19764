import type http2 from "node:http2";
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
