import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
  WriteContentResponseSchema,
} from "@strata/api/content";
import type { Status, Store, Writer } from "@strata/content";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  isNotFound,
  OutOfRangeError,
} from "@strata/errdefs";
import { type Digest, validateDigest } from "@strata/oci";

// What one message asked for, between its fields and its reply.
interface Pending {
  req: WriteContentRequest;
  status: Status;
  offset: number;
  total: number;
}

/**
 * containerd's Write protocol, one message at a time, as its server runs it:
 * the first message names the ref; each message may stat, write at the
 * current offset (or restart at an earlier one), or write and commit; every
 * reply echoes the action and the offset. A message arrives in three steps
 * so that its data can be written while it is still arriving: {@link begin}
 * with its fields, {@link data} for each piece of its bytes, {@link end}.
 */
export class WriteSession {
  readonly #store: Store;
  readonly #signal: AbortSignal;
  #writer: Writer | undefined;
  #ref = "";
  #pending: Pending | undefined;
  #done = false;

  constructor(store: Store, signal: AbortSignal) {
    this.#store = store;
    this.#signal = signal;
  }

  /**
   * Starts a message from its fields (its data, if any, follows through
   * {@link data}). Opens the writer on the first message.
   *
   * @throws {InvalidArgumentError} on a first message without a ref, another ref, or an unknown action.
   * @throws {AlreadyExistsError} when the expected digest is already stored (the ingest is dropped).
   * @throws {OutOfRangeError} on a write past the ingest's offset.
   */
  async begin(req: WriteContentRequest): Promise<void> {
    if (this.#done) throw new FailedPreconditionError(`write of "${this.#ref}" is committed`);
    const store = this.#store;
    const signal = this.#signal;
    if (this.#writer === undefined) {
      if (req.ref === "")
        throw new InvalidArgumentError("first message of a write must carry a ref");
      this.#ref = req.ref;
      const expected = req.expected === "" ? undefined : validateDigest(req.expected);
      const total = Number(req.total);
      // The writer knows the expected size even without a digest, as containerd's does.
      this.#writer = await store.writer({
        ref: req.ref,
        ...(expected !== undefined || total > 0
          ? { desc: { digest: expected ?? ("" as Digest), size: total } }
          : {}),
        signal,
      });
    } else if (req.ref !== "" && req.ref !== this.#ref) {
      throw new InvalidArgumentError(
        `write stream for ref "${this.#ref}" got a message for "${req.ref}"`,
      );
    }
    if (req.expected !== "") {
      const expected = validateDigest(req.expected);
      const exists = await store.info(expected, { signal }).then(
        () => true,
        (err: unknown) => (isNotFound(err) ? false : Promise.reject(err)),
      );
      if (exists) {
        await store.abort(this.#ref, { signal }).catch(() => undefined);
        throw new AlreadyExistsError(`content ${expected}: already exists`);
      }
    }
    const status = await this.#writer.status();
    const pending: Pending = {
      req,
      status,
      offset: status.offset,
      total: req.total > 0n ? Number(req.total) : status.total,
    };
    if (req.action !== WriteAction.STAT) {
      if (req.action !== WriteAction.WRITE && req.action !== WriteAction.COMMIT) {
        throw new InvalidArgumentError(`unknown write action ${req.action}`);
      }
      const at = Number(req.offset);
      if (at < status.offset) {
        // containerd restarts an ingest with a write at offset 0; Strata's
        // own client truncates to any earlier offset the same way.
        await this.#writer.truncate(at);
        pending.offset = at;
      } else if (at > status.offset) {
        throw new OutOfRangeError(
          `write of "${this.#ref}" at offset ${at}, but the ingest is at ${status.offset}`,
        );
      }
    }
    this.#pending = pending;
  }

  /** Appends bytes of the current message (a STAT's are ignored, as containerd does). */
  async data(bytes: Uint8Array): Promise<void> {
    const pending = this.#current();
    if (pending.req.action === WriteAction.STAT || bytes.byteLength === 0) return;
    await (this.#writer as Writer).write(bytes, { signal: this.#signal });
    pending.offset += bytes.byteLength;
  }

  /**
   * Ends the current message and gives its reply; `done` after a commit,
   * which ends the protocol. `labels` are the commit's (they may follow the
   * data on the wire).
   */
  async end(
    labels?: Record<string, string>,
  ): Promise<{ reply: WriteContentResponse; done: boolean }> {
    const pending = this.#current();
    this.#pending = undefined;
    const writer = this.#writer as Writer;
    const { req, status } = pending;
    const reply = (offset: number, total: number, updatedAt: Date): WriteContentResponse =>
      create(WriteContentResponseSchema, {
        action: req.action,
        offset: BigInt(offset),
        total: BigInt(total),
        startedAt: timestampFromDate(status.startedAt),
        updatedAt: timestampFromDate(updatedAt),
        digest: writer.digest(),
      });
    if (req.action === WriteAction.STAT) {
      return { reply: reply(status.offset, pending.total, status.updatedAt), done: false };
    }
    if (req.action === WriteAction.COMMIT) {
      const total = pending.total === 0 ? pending.offset : pending.total;
      const expected = req.expected === "" ? undefined : validateDigest(req.expected);
      await writer.commit(total, expected, { labels: labels ?? req.labels, signal: this.#signal });
      this.#done = true;
      return { reply: reply(pending.offset, total, new Date()), done: true };
    }
    const { updatedAt } = await writer.status();
    return { reply: reply(pending.offset, pending.total, updatedAt), done: false };
  }

  /** Releases the writer; the ingest stays resumable unless it was committed. */
  async close(): Promise<void> {
    await this.#writer?.close().catch(() => undefined);
  }

  #current(): Pending {
    if (this.#pending === undefined) {
      throw new FailedPreconditionError(`write of "${this.#ref}": no message is being read`);
    }
    return this.#pending;
  }
}
