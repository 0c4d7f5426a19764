import { isUnavailable } from "@strata/errdefs";
import type { Ingester, Writer, WriterOptions } from "./content.ts";

/**
 * Opens a writer, waiting while another writer holds the ref (Unavailable):
 * retries with random backoff from 16 ms doubling up to 2 s, until it opens
 * or `options.signal` aborts, as containerd's `content.OpenWriter`. Use it
 * when two tasks may fetch the same blob under the same ref.
 *
 * @throws the signal's reason when aborted while waiting; other errors of `writer` at once.
 */
export async function openWriter(ingester: Ingester, options: WriterOptions): Promise<Writer> {
  let delay = 16;
  for (;;) {
    try {
      return await ingester.writer(options);
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      options.signal?.throwIfAborted();
      await sleep(Math.floor(delay / 2 + Math.random() * (delay / 2)), options.signal);
      delay = Math.min(delay * 2, 2048);
    }
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
