/**
 * Calls `fn` for every item, at most `width` at a time (file system calls
 * one by one each pay a thread-pool round trip). Stops starting new ones at
 * the first failure and rethrows it once those running have settled.
 */
export async function forEachParallel<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(
    Array.from({ length: Math.min(width, items.length) }, worker),
  );
  for (const r of results) if (r.status === "rejected") throw r.reason;
}
