import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { type Client, createClient } from "@connectrpc/connect";
import {
  Content,
  type Info as InfoMessage,
  ReadContentRequestSchema,
  ReadContentResponseSchema,
  type Status as StatusMessage,
  WriteAction,
  WriteContentRequestSchema,
  type WriteContentResponse,
  WriteContentResponseSchema,
} from "@strata/api/content";
import { envelope, type MessagePart, streamedMessageHead } from "@strata/api/grpc-wire";
import type {
  CommitOptions,
  Info,
  ReaderAt,
  Status,
  Store,
  Writer,
  WriterOptions,
} from "@strata/content";
import { DataLossError, FailedPreconditionError, InvalidArgumentError } from "@strata/errdefs";
import { call, fromRemote } from "./_errors.ts";
import { GrpcCall } from "./_grpc_call.ts";
import { type DaemonTransport, MAX_MESSAGE_BYTES } from "./transport.ts";

type Digest = Info["digest"];

/** Headers that scope a call: the namespace, and the lease if any. */
export function scopeHeaders(namespace: string, lease?: string): Record<string, string> {
  return lease === undefined
    ? { "containerd-namespace": namespace }
    : { "containerd-namespace": namespace, "containerd-lease": lease };
}

function info(m: InfoMessage | undefined): Info {
  if (m === undefined) throw new DataLossError("the daemon sent no info");
  const created = m.createdAt ? timestampDate(m.createdAt) : new Date(0);
  return {
    digest: m.digest as Digest,
    size: Number(m.size),
    createdAt: created,
    updatedAt: m.updatedAt ? timestampDate(m.updatedAt) : created,
    labels: { ...m.labels },
  };
}

function status(m: StatusMessage | undefined): Status {
  if (m === undefined) throw new DataLossError("the daemon sent no status");
  return {
    ref: m.ref,
    offset: Number(m.offset),
    total: Number(m.total),
    ...(m.expected !== "" ? { expected: m.expected as Digest } : {}),
    startedAt: m.startedAt ? timestampDate(m.startedAt) : new Date(0),
    updatedAt: m.updatedAt ? timestampDate(m.updatedAt) : new Date(0),
  };
}

/**
 * A content {@link Store} served by a daemon over containerd's Content API,
 * for one namespace (and lease). It speaks the protocol containerd's own
 * client does: a Read call per run of sequential `readAt`s, and a Write
 * stream of STAT, WRITE at offsets, and COMMIT. Read and Write frame their
 * messages by hand on the call's HTTP/2 stream, so a blob's bytes are not
 * joined into messages and copied again on either side.
 */
export class RemoteContentStore implements Store {
  readonly #client: Client<typeof Content>;
  readonly #transport: DaemonTransport;
  readonly #headers: Record<string, string>;

  constructor(transport: DaemonTransport, options: { namespace: string; lease?: string }) {
    this.#client = createClient(Content, transport);
    this.#transport = transport;
    this.#headers = scopeHeaders(options.namespace, options.lease);
  }

  async info(digest: Digest, options?: { signal?: AbortSignal }): Promise<Info> {
    const res = await call(() => this.#client.info({ digest }, this.#opts(options)));
    return info(res.info);
  }

  async update(
    update: Pick<Info, "digest"> & Partial<Pick<Info, "labels">>,
    options?: { fieldpaths?: readonly string[]; signal?: AbortSignal },
  ): Promise<Info> {
    const res = await call(() =>
      this.#client.update(
        {
          info: { digest: update.digest, labels: update.labels ?? {} },
          updateMask: { paths: [...(options?.fieldpaths ?? [])] },
        },
        this.#opts(options),
      ),
    );
    return info(res.info);
  }

  async walk(
    fn: (info: Info) => void | Promise<void>,
    options?: { filters?: readonly string[]; signal?: AbortSignal },
  ): Promise<void> {
    try {
      for await (const batch of this.#client.list(
        { filters: [...(options?.filters ?? [])] },
        this.#opts(options),
      )) {
        for (const m of batch.info) await fn(info(m));
      }
    } catch (err) {
      throw fromRemote(err);
    }
  }

  async delete(digest: Digest, options?: { signal?: AbortSignal }): Promise<void> {
    await call(() => this.#client.delete({ digest }, this.#opts(options)));
  }

  /**
   * A reader over one blob. Sequential reads (`readAt` at the offset where
   * the last one ended, as streams and copies read) are served from one Read
   * call that runs ahead to the end of the blob; a read anywhere else starts
   * a new call there.
   */
  async readerAt(
    desc: { digest: Digest; size?: number },
    options?: { signal?: AbortSignal },
  ): Promise<ReaderAt> {
    const size = desc.size ?? (await this.info(desc.digest, options)).size;
    return new RemoteReader(this.#transport, desc.digest, size, this.#opts(options));
  }

  async status(ref: string, options?: { signal?: AbortSignal }): Promise<Status> {
    const res = await call(() => this.#client.status({ ref }, this.#opts(options)));
    return status(res.status);
  }

  async listStatuses(options?: {
    filters?: readonly string[];
    signal?: AbortSignal;
  }): Promise<Status[]> {
    const res = await call(() =>
      this.#client.listStatuses({ filters: [...(options?.filters ?? [])] }, this.#opts(options)),
    );
    return res.statuses.map(status);
  }

  async abort(ref: string, options?: { signal?: AbortSignal }): Promise<void> {
    await call(() => this.#client.abort({ ref }, this.#opts(options)));
  }

  async writer(options: WriterOptions): Promise<Writer> {
    const stream = new WriteStream(this.#transport, this.#headers, options);
    await stream.open();
    return stream;
  }

  #opts(options?: { signal?: AbortSignal }) {
    return {
      headers: this.#headers,
      ...(options?.signal !== undefined ? { signal: options.signal } : {}),
    };
  }
}

const READ_PATH = "/containerd.services.content.v1.Content/Read";
const WRITE_PATH = "/containerd.services.content.v1.Content/Write";
/** ReadContentResponse's `data` field and WriteContentRequest's. */
const READ_DATA_FIELD = 2;
const WRITE_DATA_FIELD = 6;

// A ReaderAt over a Read call that streams from `#position` to the end of
// the blob. The reply's bytes are copied once, from the pieces HTTP/2
// delivered straight into the caller's buffer; `#pending` holds what the
// last piece left over.
class RemoteReader implements ReaderAt {
  readonly size: number;
  readonly #transport: DaemonTransport;
  readonly #digest: Digest;
  readonly #headers: Record<string, string>;
  readonly #signal: AbortSignal | undefined;
  #call: GrpcCall | undefined;
  #parts: AsyncGenerator<MessagePart, void, undefined> | undefined;
  #position = -1;
  /** Where the daemon's next message must start. */
  #received = -1;
  #pending: Uint8Array = new Uint8Array(0);
  #closed = false;

  constructor(
    transport: DaemonTransport,
    digest: Digest,
    size: number,
    opts: { headers: Record<string, string>; signal?: AbortSignal },
  ) {
    this.#transport = transport;
    this.#digest = digest;
    this.size = size;
    this.#headers = opts.headers;
    this.#signal = opts.signal;
  }

  async readAt(buffer: Uint8Array, offset: number): Promise<number> {
    if (this.#closed) throw new FailedPreconditionError(`reader of ${this.#digest} is closed`);
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(
        `read of ${this.#digest} at offset ${offset}: not a valid offset`,
      );
    }
    if (offset >= this.size || buffer.byteLength === 0) return 0;
    this.#signal?.throwIfAborted();
    if (this.#parts === undefined || offset !== this.#position) await this.#start(offset);
    const parts = this.#parts as AsyncGenerator<MessagePart, void, undefined>;
    let n = 0;
    try {
      while (n < buffer.byteLength && this.#position < this.size) {
        if (this.#pending.byteLength === 0) {
          const next = await parts.next();
          if (next.done === true) break;
          const part = next.value;
          if (part.kind === "data") {
            this.#pending = part.bytes;
            this.#received += part.bytes.byteLength;
          } else if (part.kind === "head") this.#checkOffset(part.fields);
          continue;
        }
        const take = Math.min(buffer.byteLength - n, this.#pending.byteLength);
        buffer.set(this.#pending.subarray(0, take), n);
        this.#pending = this.#pending.subarray(take);
        n += take;
        this.#position += take;
      }
    } catch (err) {
      this.#stop();
      throw err;
    }
    return n;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stop();
  }

  // Each message must continue where the last one ended.
  #checkOffset(fields: Uint8Array): void {
    const at = Number(fromBinary(ReadContentResponseSchema, fields).offset);
    if (at !== this.#received) {
      throw new DataLossError(
        `read of ${this.#digest}: the daemon sent bytes at offset ${at}, expected ${this.#received}`,
      );
    }
  }

  async #start(offset: number): Promise<void> {
    this.#stop();
    const call = await GrpcCall.open(this.#transport, READ_PATH, {
      headers: this.#headers,
      streamedField: READ_DATA_FIELD,
      maxMessageBytes: MAX_MESSAGE_BYTES,
    });
    const request = toBinary(
      ReadContentRequestSchema,
      create(ReadContentRequestSchema, {
        digest: this.#digest,
        offset: BigInt(offset),
        size: BigInt(this.size - offset),
      }),
    );
    this.#call = call;
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    await call.write(envelope(request));
    call.end();
    this.#parts = call.parts();
    this.#position = offset;
    this.#received = offset;
    this.#pending = new Uint8Array(0);
  }

  readonly #onAbort = (): void => this.#stop();

  #stop(): void {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#call?.cancel();
    const parts = this.#parts;
    this.#call = undefined;
    this.#parts = undefined;
    this.#pending = new Uint8Array(0);
    parts?.return().catch(() => {});
  }
}

// One bidirectional Write call. A chunk goes out in 4 MiB messages without
// waiting for each reply (up to WRITE_WINDOW bytes in flight), each message
// its header and then the caller's bytes, uncopied; every reply is checked,
// in order, against the offset its message should reach, and `write`
// resolves when all of its replies are in. Other requests (stat, commit,
// truncate) wait for their reply, as containerd's proxy writer does.
/** Data per Write message (containerd's client sends 1 MiB; both servers take up to 16 MiB). */
const WRITE_MESSAGE = 4 << 20;
/** Bytes sent ahead of their replies. */
const WRITE_WINDOW = 8 << 20;

/** A Write message's fields; its data is sent apart. */
interface WriteFields {
  action: WriteAction;
  ref?: string;
  total?: bigint;
  expected?: string;
  offset?: bigint;
  labels?: Record<string, string>;
}

class WriteStream implements Writer {
  readonly ref: string;
  readonly #options: WriterOptions;
  readonly #transport: DaemonTransport;
  readonly #headers: Record<string, string>;
  #call: GrpcCall | undefined;
  #replies: AsyncGenerator<MessagePart, void, undefined> | undefined;
  #offset = 0;
  #digest = "";
  #total = 0;
  #startedAt = new Date(0);
  #updatedAt = new Date(0);
  #done = false;
  /** Where the next message's data starts (the daemon's offset once all replies are in). */
  #sent = 0;
  /** Messages sent and not yet answered: the offset each must reach, and its size. */
  readonly #inflight: { end: number; bytes: number }[] = [];
  #inflightBytes = 0;

  constructor(transport: DaemonTransport, headers: Record<string, string>, options: WriterOptions) {
    this.#transport = transport;
    this.#headers = headers;
    this.#options = options;
    this.ref = options.ref;
  }

  async open(): Promise<void> {
    const call = await GrpcCall.open(this.#transport, WRITE_PATH, {
      headers: this.#headers,
      maxMessageBytes: MAX_MESSAGE_BYTES,
    });
    this.#call = call;
    this.#replies = call.parts();
    this.#options.signal?.addEventListener("abort", this.#onAbort, { once: true });
    await this.#request({
      action: WriteAction.STAT,
      ref: this.ref,
      total: BigInt(this.#options.desc?.size ?? 0),
      expected: this.#options.desc?.digest ?? "",
    });
  }

  readonly #onAbort = (): void => {
    this.#done = true;
    this.#call?.cancel();
  };

  async #request(fields: WriteFields, data?: Uint8Array): Promise<WriteContentResponse> {
    await this.#drain();
    await this.#sendOnly(fields, data);
    const res = await this.#receive();
    this.#sent = this.#offset;
    return res;
  }

  async #sendOnly(fields: WriteFields, data?: Uint8Array): Promise<void> {
    const call = this.#call;
    if (this.#done || call === undefined) {
      throw new FailedPreconditionError(`writer for "${this.ref}" is closed`);
    }
    const encoded = toBinary(WriteContentRequestSchema, create(WriteContentRequestSchema, fields));
    if (data === undefined) await call.write(envelope(encoded));
    else {
      const head = streamedMessageHead(encoded, {
        field: WRITE_DATA_FIELD,
        length: data.byteLength,
      });
      await call.write(head, data);
    }
  }

  async #receive(): Promise<WriteContentResponse> {
    const replies = this.#replies;
    if (replies === undefined) {
      throw new FailedPreconditionError(`writer for "${this.ref}" is closed`);
    }
    let res: WriteContentResponse | undefined;
    try {
      while (res === undefined) {
        const next = await replies.next();
        if (next.done === true) {
          this.#done = true;
          throw new DataLossError(`the daemon ended the write of "${this.ref}" early`);
        }
        if (next.value.kind === "end") {
          res = fromBinary(WriteContentResponseSchema, next.value.fields);
        }
      }
    } catch (err) {
      this.#done = true;
      this.#options.signal?.throwIfAborted();
      throw err;
    }
    this.#offset = Number(res.offset);
    this.#total = Number(res.total);
    if (res.digest !== "") this.#digest = res.digest;
    if (res.startedAt) this.#startedAt = timestampDate(res.startedAt);
    if (res.updatedAt) this.#updatedAt = timestampDate(res.updatedAt);
    return res;
  }

  // Takes the reply of the oldest message in flight and checks its offset.
  async #ack(): Promise<void> {
    const due = this.#inflight.shift();
    if (due === undefined) return;
    this.#inflightBytes -= due.bytes;
    await this.#receive();
    if (this.#offset !== due.end) {
      this.#done = true;
      throw new DataLossError(
        `write of "${this.ref}": the daemon is at offset ${this.#offset}, expected ${due.end}`,
      );
    }
  }

  async #drain(): Promise<void> {
    while (this.#inflight.length > 0) await this.#ack();
  }

  async status(): Promise<Status> {
    await this.#request({ action: WriteAction.STAT });
    return {
      ref: this.ref,
      offset: this.#offset,
      total: this.#total,
      ...(this.#options.desc?.digest !== undefined ? { expected: this.#options.desc.digest } : {}),
      startedAt: this.#startedAt,
      updatedAt: this.#updatedAt,
    };
  }

  async write(chunk: Uint8Array): Promise<void> {
    for (let at = 0; at < chunk.byteLength; at += WRITE_MESSAGE) {
      const data = chunk.subarray(at, Math.min(at + WRITE_MESSAGE, chunk.byteLength));
      await this.#sendOnly({ action: WriteAction.WRITE, offset: BigInt(this.#sent) }, data);
      this.#sent += data.byteLength;
      this.#inflight.push({ end: this.#sent, bytes: data.byteLength });
      this.#inflightBytes += data.byteLength;
      while (this.#inflightBytes > WRITE_WINDOW) await this.#ack();
    }
    // Every reply in: the chunk is no longer needed (the caller may reuse
    // it), and offset and digest are the daemon's after it.
    await this.#drain();
  }

  digest(): Digest {
    return this.#digest as Digest;
  }

  async commit(size: number, expected: Digest | undefined, options?: CommitOptions): Promise<void> {
    await this.#drain();
    await this.#request({
      action: WriteAction.COMMIT,
      total: BigInt(size),
      offset: BigInt(this.#offset),
      expected: expected ?? "",
      labels: options?.labels ?? {},
    });
    await this.close();
  }

  async truncate(size: number): Promise<void> {
    await this.#drain();
    if (!Number.isSafeInteger(size) || size < 0 || size > this.#offset) {
      throw new InvalidArgumentError(
        `cannot truncate "${this.ref}" to ${size}: the ingest has ${this.#offset} bytes`,
      );
    }
    // A write at an earlier offset truncates there (offset 0 is containerd's restart).
    await this.#request({ action: WriteAction.WRITE, offset: BigInt(size) });
  }

  async close(): Promise<void> {
    const call = this.#call;
    if (call === undefined) return;
    this.#call = undefined;
    this.#done = true;
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    call.end();
    // Drain what the server still sends (containerd's sends one extra reply).
    try {
      while (!(await this.#replies?.next())?.done) {}
    } catch {
      // The stream is over either way; the ingest stays resumable on the daemon.
    }
  }
}
