import { InvalidArgumentError } from "@strata/errdefs";

/** Options of {@link Group.do}. */
export interface DoOptions {
  /**
   * Aborts this caller's wait. The caller then rejects at once with the
   * signal's reason; the shared run is aborted only when every waiter of it
   * has aborted.
   */
  signal?: AbortSignal;
}

// One caller waiting on a run.
interface Waiter<T> {
  resolve: (value: T) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

// One run of a function, shared by the callers that asked for its key while
// it was in flight.
interface Call<T> {
  readonly key: string;
  readonly controller: AbortController;
  readonly waiters: Set<Waiter<T>>;
  settled: boolean;
}

/**
 * Runs one function per key at a time and shares its outcome with every
 * caller that asks for that key while it runs (BuildKit's flightcontrol).
 *
 * - Concurrent callers with one key share one run of `fn`; a success goes to
 *   every waiter (the very same value), a failure to the waiters of that run.
 * - The key is freed as soon as the run settles: a later caller runs `fn`
 *   again, so failures are never handed to late callers.
 * - `fn` receives a signal that aborts only when every waiter has aborted. A
 *   waiter that aborts rejects at once with its own signal's reason while the
 *   others keep waiting. Once every waiter is gone the run is abandoned: the
 *   key is freed at once and the next caller starts a fresh run, even if the
 *   abandoned `fn` is still winding down.
 *
 * @example
 * ```ts
 * const blobs = new Group<string>();
 * // Both calls share one computation of the blob for "ref-1".
 * const [a, b] = await Promise.all([
 *   blobs.do("ref-1", (signal) => computeBlob("ref-1", { signal })),
 *   blobs.do("ref-1", (signal) => computeBlob("ref-1", { signal })),
 * ]);
 * a === b; // true
 * ```
 */
export class Group<T> {
  #calls: Map<string, Call<T>> = new Map();

  /** The number of keys with a run in flight that callers can still join. */
  get size(): number {
    return this.#calls.size;
  }

  /** Whether a run for `key` is in flight and a caller of `do(key)` would join it. */
  has(key: string): boolean {
    return this.#calls.has(key);
  }

  /**
   * Runs `fn` for `key`, or joins the run of `key` already in flight, and
   * resolves with its result.
   *
   * Rejects with what `fn` threw or rejected with (also when it throws
   * synchronously); with `options.signal`'s reason when that signal is
   * aborted before or during the wait (an aborted signal neither starts nor
   * joins a run); with `InvalidArgumentError` when `key` is not a string or
   * `fn` not a function.
   */
  do(key: string, fn: (signal: AbortSignal) => Promise<T>, options?: DoOptions): Promise<T> {
    if (typeof key !== "string") {
      return Promise.reject(
        new InvalidArgumentError(`flightcontrol: key must be a string, got ${typeof key}`),
      );
    }
    if (typeof fn !== "function") {
      return Promise.reject(
        new InvalidArgumentError(`flightcontrol: fn for key "${key}" must be a function`),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);

    const existing = this.#calls.get(key);
    if (existing !== undefined) return this.#join(existing, signal);

    const call: Call<T> = {
      key,
      controller: new AbortController(),
      waiters: new Set(),
      settled: false,
    };
    this.#calls.set(key, call);
    // Join before starting, so that a function that settles or aborts
    // synchronously still finds its first waiter registered.
    const result = this.#join(call, signal);
    start(fn, call.controller.signal).then(
      (value) => this.#settle(call, (w) => w.resolve(value)),
      (err: unknown) => this.#settle(call, (w) => w.reject(err)),
    );
    return result;
  }

  #join(call: Call<T>, signal: AbortSignal | undefined): Promise<T> {
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const waiter: Waiter<T> = { resolve, reject, signal, onAbort: undefined };
    call.waiters.add(waiter);
    if (signal !== undefined) {
      waiter.onAbort = () => this.#leave(call, waiter);
      signal.addEventListener("abort", waiter.onAbort, { once: true });
    }
    return promise;
  }

  // A waiter aborted: it rejects now; the last one to leave abandons the run.
  #leave(call: Call<T>, waiter: Waiter<T>): void {
    if (!call.waiters.delete(waiter)) return;
    const reason: unknown = waiter.signal?.reason;
    waiter.reject(reason);
    if (call.waiters.size === 0 && !call.settled) {
      this.#forget(call);
      call.controller.abort(reason);
    }
  }

  #settle(call: Call<T>, deliver: (waiter: Waiter<T>) => void): void {
    call.settled = true;
    this.#forget(call);
    for (const waiter of call.waiters) {
      if (waiter.onAbort !== undefined) {
        waiter.signal?.removeEventListener("abort", waiter.onAbort);
      }
      deliver(waiter);
    }
    call.waiters.clear();
  }

  // Frees the key unless a newer run already took it.
  #forget(call: Call<T>): void {
    if (this.#calls.get(call.key) === call) this.#calls.delete(call.key);
  }
}

// Calls fn now and turns a synchronous throw into a rejection (Promise.try,
// which the ES2024 lib of this repo does not declare).
function start<T>(fn: (signal: AbortSignal) => Promise<T>, signal: AbortSignal): Promise<T> {
  try {
    return Promise.resolve(fn(signal));
  } catch (err) {
    return Promise.reject(err);
  }
}
