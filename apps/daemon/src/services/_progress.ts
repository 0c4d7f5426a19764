import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampNow } from "@bufbuild/protobuf/wkt";
import { type Progress, ProgressSchema } from "@strata/api/cache";
import type { CacheProgress } from "@strata/core";
import { toConnectError } from "./_errors.ts";

function progressMessage(e: CacheProgress): Progress {
  return create(ProgressSchema, {
    id: e.id,
    action: e.action,
    current: BigInt(Math.trunc(e.current)),
    total: BigInt(Math.trunc(e.total)),
    done: e.done,
    timestamp: timestampNow(),
  });
}

/**
 * Runs `op` and streams its progress events as they come, then the message
 * `last` makes of its result. While the client is slower than the events,
 * a newer event of an id replaces its older one still queued (only the
 * latest count matters), unless the older one is its last (`done`): the
 * queue holds at most one pending event per id plus the final ones. The
 * stream ends with the operation's error, mapped to its gRPC status, if it
 * fails.
 */
export async function* progressOf<R>(
  op: (onProgress: (e: CacheProgress) => void) => Promise<R>,
  last: (result: R) => MessageInitShape<typeof ProgressSchema>,
): AsyncGenerator<Progress> {
  const queue: Progress[] = [];
  // The queued event of each id that is not its last, to replace in place.
  const pending = new Map<string, Progress>();
  let wake: (() => void) | undefined;
  let outcome: { ok: true; value: R } | { ok: false; error: unknown } | undefined;
  const running = (async () => {
    try {
      outcome = {
        ok: true,
        value: await op((e) => {
          const message = progressMessage(e);
          const older = pending.get(e.id);
          if (older !== undefined) {
            queue[queue.indexOf(older)] = message;
          } else {
            queue.push(message);
          }
          if (e.done) pending.delete(e.id);
          else pending.set(e.id, message);
          wake?.();
        }),
      };
    } catch (error) {
      outcome = { ok: false, error };
    }
    wake?.();
  })();
  for (;;) {
    while (queue.length > 0) {
      const next = queue.shift() as Progress;
      if (pending.get(next.id) === next) pending.delete(next.id);
      yield next;
    }
    if (outcome !== undefined) break;
    await new Promise<void>((r) => {
      wake = r;
    });
    wake = undefined;
  }
  await running;
  if (!outcome.ok) throw toConnectError(outcome.error);
  yield create(ProgressSchema, { done: true, timestamp: timestampNow(), ...last(outcome.value) });
}
