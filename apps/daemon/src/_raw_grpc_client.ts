// A gRPC call made by hand on HTTP/2, for the tests that look at what the
// daemon puts on the wire: the request bytes as given (in pieces of `step`
// bytes), the reply's bytes and status as they came.
import http2 from "node:http2";
import { connect as netConnect } from "node:net";

/** What came back from {@link rawGrpcCall}. */
export interface RawReply {
  /** `grpc-status`, from the headers or the trailers; undefined if none came. */
  status: string | undefined;
  /** `grpc-message`, decoded. */
  message: string;
  /** The reply's bytes: its messages in their envelopes. */
  body: Buffer;
}

/**
 * One call to `path` on the daemon at `socket` in namespace `namespace`
 * (the header can be overridden or emptied through `headers`), sending
 * `body`; `end: false` leaves the request open.
 */
export async function rawGrpcCall(
  socket: string,
  path: string,
  body: Uint8Array,
  options: {
    namespace: string;
    headers?: http2.OutgoingHttpHeaders;
    step?: number;
    end?: boolean;
  },
): Promise<RawReply> {
  const session = http2.connect("http://localhost", {
    createConnection: () => netConnect(socket),
  });
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "containerd-namespace": options.namespace,
      ...options.headers,
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    let message = "";
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
      if (h["grpc-message"] !== undefined) message = decodeURIComponent(String(h["grpc-message"]));
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("error", () => {});
    const closed = new Promise((r) => stream.on("close", r));
    const step = options.step ?? Math.max(body.byteLength, 1);
    for (let at = 0; at < body.byteLength && !stream.destroyed; at += step) {
      if (!stream.write(body.subarray(at, at + step))) {
        await new Promise((r) => {
          stream.once("drain", r);
          stream.once("close", r);
        });
      }
    }
    if (options.end !== false && !stream.destroyed) stream.end();
    await closed;
    return { status, message, body: Buffer.concat(chunks) };
  } finally {
    session.close();
  }
}

/** The messages of a reply body, out of their envelopes. */
export function messagesOf(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; ) {
    const length = body.readUInt32BE(at + 1);
    out.push(body.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return out;
}
