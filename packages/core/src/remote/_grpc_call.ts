import { once } from "node:events";
import http2 from "node:http2";
import { chunkBatches, type MessagePart, StreamedMessageDecoder } from "@strata/api/grpc-wire";
import { fromGrpcStatus, UnavailableError } from "@strata/errdefs";
import type { DaemonTransport } from "./transport.ts";

/** Reply bytes received and not yet read before the stream is paused. */
const QUEUED_BYTES = 4 << 20;

/**
 * One gRPC call on a raw HTTP/2 stream, for the calls whose messages are
 * framed by hand (containerd's Content Read and Write): writes with
 * backpressure, replies as {@link MessagePart}s, and the status from the
 * trailers as an errdefs error.
 */
export class GrpcCall {
  readonly #stream: http2.ClientHttp2Stream;
  readonly #path: string;
  readonly #decoder: StreamedMessageDecoder;
  readonly #status: Promise<void>;

  private constructor(
    stream: http2.ClientHttp2Stream,
    path: string,
    decoder: StreamedMessageDecoder,
  ) {
    this.#stream = stream;
    this.#path = path;
    this.#decoder = decoder;
    this.#status = new Promise<void>((resolve, reject) => {
      // The status comes in the trailers, or in the headers of a reply
      // without messages.
      const settle = (headers: http2.IncomingHttpHeaders): void => {
        const code = headers["grpc-status"];
        if (code === undefined) return;
        if (code === "0") {
          resolve();
          return;
        }
        const message = decodeURIComponent(String(headers["grpc-message"] ?? ""));
        reject(fromGrpcStatus({ code: Number(code), message: message || `${path} failed` }));
      };
      stream.once("response", (headers) => {
        const status = headers[":status"];
        if (status !== 200) {
          reject(new UnavailableError(`${path}: the daemon answered HTTP ${status}`));
          return;
        }
        settle(headers);
      });
      stream.once("trailers", settle);
      stream.once("error", (err: Error) =>
        reject(new UnavailableError(`${path}: ${err.message}`, { cause: err })),
      );
      stream.once("close", () =>
        reject(
          new UnavailableError(
            `${path}: the stream closed without a status (HTTP/2 code ${stream.rstCode})`,
          ),
        ),
      );
    });
    // Observed by `parts` or not at all (a call cancelled on purpose).
    this.#status.catch(() => {});
  }

  /**
   * Opens a call to `path`; its replies stream the length-delimited field
   * `streamedField` (none when absent).
   */
  static async open(
    transport: DaemonTransport,
    path: string,
    options: { headers: Record<string, string>; streamedField?: number; maxMessageBytes: number },
  ): Promise<GrpcCall> {
    const stream = await transport.openCall(path, options.headers);
    const decoder = new StreamedMessageDecoder({
      field: options.streamedField ?? 0,
      maxMessageBytes: options.maxMessageBytes,
    });
    return new GrpcCall(stream, path, decoder);
  }

  /**
   * Sends bytes of the request; resolves once HTTP/2 can take more (the
   * buffers are held until sent).
   */
  async write(...chunks: readonly Uint8Array[]): Promise<void> {
    const stream = this.#stream;
    let ok = true;
    for (const chunk of chunks) ok = stream.write(chunk);
    if (!ok && !stream.destroyed) {
      await Promise.race([once(stream, "drain"), this.#status.then(() => undefined)]);
    }
  }

  /** Ends the request side. */
  end(): void {
    if (!this.#stream.destroyed) this.#stream.end();
  }

  /**
   * The replies, as they arrive; after the last one, the call's status
   * (an errdefs error when the daemon failed the call).
   */
  async *parts(): AsyncGenerator<MessagePart, void, undefined> {
    try {
      for await (const batch of chunkBatches(this.#stream, { highWaterBytes: QUEUED_BYTES })) {
        for (const chunk of batch) yield* this.#decoder.push(chunk);
      }
    } catch (err) {
      // A reset stream: the status, when the daemon sent one, says more.
      await this.#status;
      throw new UnavailableError(`${this.#path}: ${(err as Error).message}`, { cause: err });
    }
    await this.#status;
    this.#decoder.finish();
  }

  /** Abandons the call (RST_STREAM CANCEL). */
  cancel(): void {
    if (!this.#stream.destroyed) this.#stream.close(http2.constants.NGHTTP2_CANCEL);
  }
}
