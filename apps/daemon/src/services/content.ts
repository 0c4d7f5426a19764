import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  type Content,
  type Info as InfoMessage,
  InfoSchema,
  type Status as StatusMessage,
  StatusSchema,
  type WriteContentRequest,
  type WriteContentResponse,
} from "@strata/api/content";
import type { Info, Status, Store } from "@strata/content";
import { InvalidArgumentError, OutOfRangeError } from "@strata/errdefs";
import { validateDigest } from "@strata/oci";
import { type HeaderSource, hasNamespace, leaseOf, listBatches, namespaceOf } from "./_context.ts";
import { mapErrors, toConnectError } from "./_errors.ts";
import { WriteSession } from "./_write_session.ts";

/** Where the content service gets a namespace's store. */
export interface ContentBackend {
  /** The content store of `namespace`, writing under `lease` when given. */
  contentStore(namespace: string, options?: { lease?: string }): Store;
  /**
   * A bare store, without namespaces or leases, for calls that carry no
   * namespace: containerd using Strata as a proxy content store keeps the
   * records itself and calls the backend bare. Without it, such calls are
   * refused (InvalidArgument: no namespace), as containerd refuses them.
   */
  bareStore?(): Promise<Store>;
}

/** The store a call addresses: its namespace's, or the bare one for calls without. */
export async function contentStoreOf(backend: ContentBackend, from: HeaderSource): Promise<Store> {
  if (!hasNamespace(from) && backend.bareStore !== undefined) return backend.bareStore();
  const lease = leaseOf(from);
  return backend.contentStore(namespaceOf(from), lease === undefined ? {} : { lease });
}

// containerd's server sends List in batches of this many records.
// And Read in chunks of at most this many bytes.
const READ_CHUNK = 1 << 20;

function infoMessage(info: Info): InfoMessage {
  return create(InfoSchema, {
    digest: info.digest,
    size: BigInt(info.size),
    createdAt: timestampFromDate(info.createdAt),
    updatedAt: timestampFromDate(info.updatedAt),
    labels: info.labels,
  });
}

function statusMessage(status: Status): StatusMessage {
  return create(StatusSchema, {
    ref: status.ref,
    offset: BigInt(status.offset),
    total: BigInt(status.total),
    expected: status.expected ?? "",
    startedAt: timestampFromDate(status.startedAt),
    updatedAt: timestampFromDate(status.updatedAt),
  });
}

/**
 * containerd.services.content.v1.Content over a namespaced content store,
 * with the behaviour containerd's content server has (batching, read
 * chunking, the Write protocol of STAT / WRITE / COMMIT at offsets).
 */
export function contentService(backend: ContentBackend): ServiceImpl<typeof Content> {
  const storeOf = (ctx: HandlerContext) => contentStoreOf(backend, ctx);
  return {
    async info(req, ctx) {
      return mapErrors(async () => {
        const digest = validateDigest(req.digest);
        const info = await (await storeOf(ctx)).info(digest, { signal: ctx.signal });
        return { info: infoMessage(info) };
      });
    },

    async update(req, ctx) {
      return mapErrors(async () => {
        if (req.info === undefined) throw new InvalidArgumentError("update: info is required");
        const digest = validateDigest(req.info.digest);
        const info = await (await storeOf(ctx)).update(
          { digest, labels: req.info.labels },
          { fieldpaths: req.updateMask?.paths ?? [], signal: ctx.signal },
        );
        return { info: infoMessage(info) };
      });
    },

    async *list(req, ctx) {
      let out: InfoMessage[][];
      try {
        const store = await storeOf(ctx);
        out = await listBatches((add) =>
          store.walk((info) => add(infoMessage(info)), {
            filters: req.filters,
            signal: ctx.signal,
          }),
        );
      } catch (err) {
        throw toConnectError(err);
      }
      for (const info of out) yield { info };
    },

    async delete(req, ctx) {
      return mapErrors(async () => {
        const digest = validateDigest(req.digest);
        await (await storeOf(ctx)).delete(digest, { signal: ctx.signal });
        return {};
      });
    },

    async *read(req, ctx) {
      let reader: Awaited<ReturnType<Store["readerAt"]>>;
      try {
        const digest = validateDigest(req.digest);
        reader = await (await storeOf(ctx)).readerAt({ digest }, { signal: ctx.signal });
      } catch (err) {
        throw toConnectError(err);
      }
      try {
        const offset = req.offset < 0n ? 0 : Number(req.offset);
        if (offset > reader.size) {
          throw toConnectError(
            new OutOfRangeError(
              `read offset ${offset} is past the end of ${req.digest} (${reader.size} bytes)`,
            ),
          );
        }
        const asked = Number(req.size);
        const end = asked <= 0 || offset + asked > reader.size ? reader.size : offset + asked;
        // One buffer for the whole read: each message is serialized before
        // the stream asks for the next, so the bytes can be reused.
        const chunk = new Uint8Array(Math.min(READ_CHUNK, Math.max(end - offset, 0)));
        for (let at = offset; at < end; ) {
          const buf = chunk.subarray(0, Math.min(READ_CHUNK, end - at));
          const n = await reader.readAt(buf, at);
          if (n <= 0) break;
          yield { offset: BigInt(at), data: buf.subarray(0, n) };
          at += n;
        }
      } catch (err) {
        throw toConnectError(err);
      } finally {
        await reader.close();
      }
    },

    async status(req, ctx) {
      return mapErrors(async () => {
        const status = await (await storeOf(ctx)).status(req.ref, { signal: ctx.signal });
        return { status: statusMessage(status) };
      });
    },

    async listStatuses(req, ctx) {
      return mapErrors(async () => {
        const statuses = await (await storeOf(ctx)).listStatuses({
          filters: req.filters,
          signal: ctx.signal,
        });
        return { statuses: statuses.map(statusMessage) };
      });
    },

    async *write(requests, ctx) {
      yield* writeStream(() => storeOf(ctx), requests, ctx.signal);
    },

    async abort(req, ctx) {
      return mapErrors(async () => {
        await (await storeOf(ctx)).abort(req.ref, { signal: ctx.signal });
        return {};
      });
    },
  };
}

// The Write protocol over connect's decoded messages (the fast path in
// write_fast_path.ts serves uncompressed calls without joining their data).
async function* writeStream(
  storeOf: () => Promise<Store>,
  requests: AsyncIterable<WriteContentRequest>,
  signal: AbortSignal,
): AsyncGenerator<WriteContentResponse> {
  let session: WriteSession | undefined;
  try {
    session = new WriteSession(await storeOf(), signal);
    for await (const req of requests) {
      await session.begin(req);
      await session.data(req.data);
      const { reply, done } = await session.end();
      yield reply;
      if (done) return;
    }
  } catch (err) {
    throw toConnectError(err);
  } finally {
    await session?.close();
  }
}
