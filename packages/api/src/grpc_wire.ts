/**
 * gRPC's length-prefixed messages on a byte stream, for the calls that move
 * blobs (containerd's Content Read and Write). A general gRPC stack joins
 * each message into one buffer before decoding it; a 4 MiB Write message
 * arrives in hundreds of HTTP/2 frames, and joining them costs a copy and a
 * large allocation per message. {@link StreamedMessageDecoder} instead hands
 * the one large `bytes` field out in the pieces it arrived in, and the other
 * fields as small buffers to decode with `fromBinary`.
 *
 * @example
 * ```ts
 * const decoder = new StreamedMessageDecoder({ field: 6, maxMessageBytes: 16 << 20 });
 * for await (const chunk of stream) {
 *   for (const part of decoder.push(chunk)) {
 *     if (part.kind === "data") await writer.write(part.bytes);
 *   }
 * }
 * decoder.finish();
 * ```
 *
 * @module
 */
import { InvalidArgumentError, ResourceExhaustedError } from "@strata/errdefs";

/** Bytes of the envelope before each message: a flags byte and a 32-bit length. */
export const ENVELOPE_HEADER_BYTES = 5;

/** A piece of a decoded message, in the order of the stream. */
export type MessagePart =
  /**
   * The streamed field begins: `fields` holds the message's other fields seen
   * so far (encoded, for `fromBinary`), `length` the streamed field's size.
   */
  | { kind: "head"; fields: Uint8Array; length: number }
  /** Bytes of the streamed field, a view into the pushed chunk. */
  | { kind: "data"; bytes: Uint8Array }
  /**
   * The message is complete: `fields` holds the fields after the streamed
   * one, or all of them when the message had none (`streamed` false).
   */
  | { kind: "end"; fields: Uint8Array; streamed: boolean };

/** Bytes of `value` as a protobuf varint (a non-negative safe integer). */
export function varintLength(value: number): number {
  let n = 1;
  for (let v = value; v > 0x7f; v = Math.floor(v / 128)) n++;
  return n;
}

/** Writes `value` as a protobuf varint into `buf` at `at`; returns where it ends. */
export function putVarint(buf: Uint8Array, at: number, value: number): number {
  let v = value;
  let i = at;
  while (v > 0x7f) {
    buf[i++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[i++] = v;
  return i;
}

/**
 * The bytes that precede a streamed field's content on the wire: the
 * envelope header, `fields` (the message's other fields, encoded), and the
 * streamed field's tag and length. Send them, then the field's `length`
 * bytes, and the receiver has one message.
 */
export function streamedMessageHead(
  fields: Uint8Array,
  options: { field: number; length: number },
): Uint8Array {
  const tag = options.field * 8 + 2;
  const prefix = varintLength(tag) + varintLength(options.length);
  const head = new Uint8Array(ENVELOPE_HEADER_BYTES + fields.byteLength + prefix);
  const body = fields.byteLength + prefix + options.length;
  new DataView(head.buffer).setUint32(1, body);
  head.set(fields, ENVELOPE_HEADER_BYTES);
  putVarint(head, putVarint(head, ENVELOPE_HEADER_BYTES + fields.byteLength, tag), options.length);
  return head;
}

/** One whole message in its envelope (`body` is the encoded message). */
export function envelope(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES + body.byteLength);
  new DataView(out.buffer).setUint32(1, body.byteLength);
  out.set(body, ENVELOPE_HEADER_BYTES);
  return out;
}

// A growable buffer for the small fields of a message.
class Bytes {
  #buf = new Uint8Array(64);
  #length = 0;

  push(bytes: Uint8Array): void {
    if (this.#length + bytes.byteLength > this.#buf.byteLength) {
      const grown = new Uint8Array(
        Math.max(this.#buf.byteLength * 2, this.#length + bytes.byteLength),
      );
      grown.set(this.#buf.subarray(0, this.#length));
      this.#buf = grown;
    }
    this.#buf.set(bytes, this.#length);
    this.#length += bytes.byteLength;
  }

  pushByte(byte: number): void {
    if (this.#length === this.#buf.byteLength) this.push(Uint8Array.of(byte));
    else this.#buf[this.#length++] = byte;
  }

  // A copy: the buffer is reused for the next message.
  take(): Uint8Array {
    const out = this.#buf.slice(0, this.#length);
    this.#length = 0;
    return out;
  }
}

// Where the decoder is: in an envelope header, at a field's tag, in a
// varint field, in fixed-size or length-delimited bytes (copied or
// streamed), or in the length of a length-delimited field.
type State =
  | { at: "envelope"; have: number }
  | { at: "tag"; value: number; shift: number }
  | { at: "varint"; count: number }
  | { at: "fixed"; left: number }
  | { at: "length"; field: number; value: number; shift: number }
  | { at: "bytes"; left: number }
  | { at: "streamed"; left: number };

const MAX_VARINT_BYTES = 10;

/**
 * Decodes a stream of gRPC messages (uncompressed envelopes) whose one large
 * `bytes` field, number `field`, is handed out as it arrives instead of
 * joined. Messages of more than `maxMessageBytes` are refused; so are
 * compressed messages, groups, a streamed field that occurs twice, and a
 * stream that ends inside a message.
 */
export class StreamedMessageDecoder {
  readonly #field: number;
  readonly #max: number;
  readonly #header = new Uint8Array(ENVELOPE_HEADER_BYTES);
  readonly #fields = new Bytes();
  /** The bytes of the tag or length being read. */
  readonly #varint = new Uint8Array(MAX_VARINT_BYTES);
  #state: State = { at: "envelope", have: 0 };
  /** Bytes of the current message not yet consumed. */
  #left = 0;
  #streamed = false;

  constructor(options: { field: number; maxMessageBytes: number }) {
    this.#field = options.field;
    this.#max = options.maxMessageBytes;
  }

  /**
   * Consumes `chunk` and yields what it completes. The `data` parts are
   * views into `chunk`: use them before the next push.
   *
   * @throws {InvalidArgumentError} on a malformed or compressed message.
   * @throws {ResourceExhaustedError} on a message over the limit.
   */
  *push(chunk: Uint8Array): Generator<MessagePart, void, undefined> {
    let i = 0;
    while (i < chunk.byteLength) {
      const state = this.#state;
      if (state.at === "envelope") {
        const take = Math.min(ENVELOPE_HEADER_BYTES - state.have, chunk.byteLength - i);
        this.#header.set(chunk.subarray(i, i + take), state.have);
        state.have += take;
        i += take;
        if (state.have < ENVELOPE_HEADER_BYTES) continue;
        this.#beginMessage();
        if (this.#left === 0) yield* this.#endMessage();
        continue;
      }
      if (state.at === "streamed" || state.at === "bytes" || state.at === "fixed") {
        const take = Math.min(state.left, chunk.byteLength - i);
        const piece = chunk.subarray(i, i + take);
        if (state.at === "streamed") yield { kind: "data", bytes: piece };
        else this.#fields.push(piece);
        state.left -= take;
        i += take;
        this.#left -= take;
        if (state.left === 0) yield* this.#fieldDone();
        continue;
      }
      // One byte of a varint: a tag, a varint field, or a length.
      const byte = chunk[i++] as number;
      this.#left--;
      if (byte >= 0x80 && this.#left === 0)
        throw this.#malformed("the message ends inside a varint");
      if (state.at === "varint") {
        this.#fields.pushByte(byte);
        if (++state.count > MAX_VARINT_BYTES) throw this.#malformed("a varint is too long");
        if (byte < 0x80) yield* this.#fieldDone();
        continue;
      }
      if (state.shift >= 7 * MAX_VARINT_BYTES) throw this.#malformed("a varint is too long");
      this.#varint[state.shift / 7] = byte;
      state.value += (byte & 0x7f) * 2 ** state.shift;
      state.shift += 7;
      if (byte >= 0x80) continue;
      const bytes = this.#varint.subarray(0, state.shift / 7);
      if (state.at === "tag") this.#tagDone(state.value, bytes);
      else yield* this.#lengthDone(state.field, state.value, bytes);
    }
  }

  /**
   * Checks that the stream ended between messages.
   *
   * @throws {InvalidArgumentError} when it ended inside one.
   */
  finish(): void {
    const state = this.#state;
    if (state.at !== "envelope" || state.have !== 0) {
      throw new InvalidArgumentError("the stream ended inside a gRPC message");
    }
  }

  #beginMessage(): void {
    const view = new DataView(this.#header.buffer);
    const flags = view.getUint8(0);
    const length = view.getUint32(1);
    if (flags !== 0) {
      throw new InvalidArgumentError(
        `gRPC message with flags ${flags}: compressed messages are not accepted on this call`,
      );
    }
    if (length > this.#max) {
      throw new ResourceExhaustedError(
        `gRPC message of ${length} bytes is larger than the limit of ${this.#max}`,
      );
    }
    this.#left = length;
    this.#streamed = false;
    this.#state = { at: "tag", value: 0, shift: 0 };
  }

  *#endMessage(): Generator<MessagePart, void, undefined> {
    yield { kind: "end", fields: this.#fields.take(), streamed: this.#streamed };
    this.#state = { at: "envelope", have: 0 };
  }

  // After a field: the next tag, or the end of the message.
  *#fieldDone(): Generator<MessagePart, void, undefined> {
    if (this.#left === 0) {
      yield* this.#endMessage();
      return;
    }
    this.#state = { at: "tag", value: 0, shift: 0 };
  }

  #tagDone(tag: number, bytes: Uint8Array): void {
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw this.#malformed("a field has number 0");
    if (this.#left === 0) throw this.#malformed("the message ends after a field's tag");
    if (wire === 2) {
      // The tag goes with the fields unless this is the streamed field.
      if (field !== this.#field) this.#fields.push(bytes);
      this.#state = { at: "length", field, value: 0, shift: 0 };
      return;
    }
    this.#fields.push(bytes);
    if (field === this.#field) throw this.#malformed(`field ${field} is not length-delimited`);
    if (wire === 0) this.#state = { at: "varint", count: 0 };
    else if (wire === 1) this.#state = { at: "fixed", left: 8 };
    else if (wire === 5) this.#state = { at: "fixed", left: 4 };
    else throw this.#malformed(`wire type ${wire} (groups or unknown) is not accepted`);
    if (this.#state.at === "fixed" && this.#state.left > this.#left) {
      throw this.#malformed("a fixed-size field runs past the end of the message");
    }
  }

  *#lengthDone(
    field: number,
    length: number,
    bytes: Uint8Array,
  ): Generator<MessagePart, void, undefined> {
    if (length > this.#left) {
      throw this.#malformed(`field ${field} of ${length} bytes runs past the end of the message`);
    }
    if (field !== this.#field) {
      this.#fields.push(bytes);
      this.#state = { at: "bytes", left: length };
      if (length === 0) yield* this.#fieldDone();
      return;
    }
    if (this.#streamed) throw this.#malformed(`field ${field} occurs twice`);
    this.#streamed = true;
    yield { kind: "head", fields: this.#fields.take(), length };
    this.#state = { at: "streamed", left: length };
    if (length === 0) yield* this.#fieldDone();
  }

  #malformed(what: string): InvalidArgumentError {
    return new InvalidArgumentError(`malformed gRPC message: ${what}`);
  }
}

/** The part of a Node.js readable stream that {@link chunkBatches} uses. */
export interface FlowingSource {
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  once(event: "end" | "close", fn: () => void): unknown;
  once(event: "error", fn: (err: Error) => void): unknown;
  // biome-ignore lint/suspicious/noExplicitAny: Node's EventEmitter listener type.
  off(event: string, fn: (...args: any[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  isPaused(): boolean;
}

/**
 * An HTTP/2 stream's body in flowing mode: the chunks that arrived since
 * the last batch, taken all at once. The stream is paused above
 * `highWaterBytes` queued and resumed when the batch is taken. Reading the
 * stream through its async iterator instead pauses it every 64 KiB (its
 * high-water mark), which holds back the HTTP/2 window updates the sender
 * waits for: a 1 GiB Write or Read took about twice as long. Ends with the
 * stream; a stream closed before its end rejects.
 */
export async function* chunkBatches(
  req: FlowingSource,
  options: { highWaterBytes: number },
): AsyncGenerator<Uint8Array[], void, undefined> {
  let queue: Uint8Array[] = [];
  let queued = 0;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onData = (chunk: Uint8Array) => {
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
