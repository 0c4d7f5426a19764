/** How requests are retried. */
export interface RetryOptions {
  /** Retries after the first attempt; default 4. */
  retries?: number;
  /** The first delay in ms, doubled each retry; default 200. */
  minDelay?: number;
  /** The cap of one delay in ms, also for Retry-After; default 10 000. */
  maxDelay?: number;
}

export interface RetryPolicy {
  readonly retries: number;
  readonly minDelay: number;
  readonly maxDelay: number;
}

export function retryPolicy(options: RetryOptions | undefined): RetryPolicy {
  return {
    retries: options?.retries ?? 4,
    minDelay: options?.minDelay ?? 200,
    maxDelay: options?.maxDelay ?? 10_000,
  };
}

/**
 * The delay before retry number `attempt` (0-based): exponential with
 * "equal jitter" (half fixed, half random) so concurrent clients spread out,
 * or the server's Retry-After when it gave one; always capped.
 */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  retryAfter?: string | null,
): number {
  const hinted = parseRetryAfter(retryAfter);
  if (hinted !== undefined) return Math.min(hinted, policy.maxDelay);
  const base = Math.min(policy.maxDelay, policy.minDelay * 2 ** attempt);
  return base / 2 + Math.random() * (base / 2);
}

/** Retry-After in ms: delta-seconds or an HTTP date; undefined when absent or bad. */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Waits `ms`, rejecting with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const onAbort = (): void => {
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
