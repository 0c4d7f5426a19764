import type { GcStats } from "./gc_stats.ts";

/** Options of {@link GcScheduler}, with containerd's defaults. */
export interface GcSchedulerOptions {
  /** Target fraction of time spent paused in GC, clamped to [0, 0.5] (default 0.02). */
  pauseThreshold?: number;
  /** Deletions that force a GC right away; 0 = any deletion schedules one (default 0). */
  deletionThreshold?: number;
  /** Mutations that make the next tick collect (default 100). */
  mutationThreshold?: number;
  /** Delay between a trigger and the GC, ms (default 0). */
  scheduleDelayMs?: number;
  /** First GC after start, ms; 0 = none until an event (default 100). */
  startupDelayMs?: number;
  /** Called with each failure of a scheduled GC (default: ignored). */
  onError?: (err: unknown) => void;
}

// containerd 1.7 floors the average pause at 5 ms, so the interval never drops below ~245 ms.
const MIN_AVERAGE_PAUSE_MS = 5;
const INITIAL_INTERVAL_MS = 1000;

/**
 * Decides when to collect, as containerd's GC scheduler: a first run after
 * `startupDelayMs`, then runs when deletions or enough mutations happened,
 * spaced so GC pauses stay near `pauseThreshold` of wall time.
 * {@link scheduleAndWait} forces a run. {@link close} stops the timers.
 */
export class GcScheduler {
  readonly #run: () => Promise<GcStats>;
  readonly #pauseThreshold: number;
  readonly #deletionThreshold: number;
  readonly #mutationThreshold: number;
  readonly #scheduleDelay: number;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | undefined;
  #next = 0; // when the armed timer fires, 0 = not armed
  #deletions = 0;
  #mutations = 0;
  #triggered = false;
  #waiters: { resolve: (s: GcStats) => void; reject: (e: unknown) => void }[] = [];
  #collections = 0;
  #pauseTotal = 0;
  #lastRun = 0;
  #running = false;
  #closed = false;

  /** Starts the scheduler around `run` (one GC). @throws {RangeError} on negative options. */
  constructor(run: () => Promise<GcStats>, options?: GcSchedulerOptions) {
    this.#run = run;
    this.#pauseThreshold = Math.min(Math.max(options?.pauseThreshold ?? 0.02, 0), 0.5);
    this.#deletionThreshold = options?.deletionThreshold ?? 0;
    this.#mutationThreshold = options?.mutationThreshold ?? 100;
    this.#scheduleDelay = options?.scheduleDelayMs ?? 0;
    this.#onError = options?.onError ?? (() => {});
    const startup = options?.startupDelayMs ?? 100;
    for (const [name, value] of Object.entries({
      deletionThreshold: this.#deletionThreshold,
      mutationThreshold: this.#mutationThreshold,
      scheduleDelayMs: this.#scheduleDelay,
      startupDelayMs: startup,
    })) {
      if (!(value >= 0)) throw new RangeError(`GC scheduler: ${name} must be >= 0, got ${value}`);
    }
    if (startup > 0) {
      this.#triggered = true; // the startup run always collects
      this.#arm(startup);
    }
  }

  /** How many collections ran. */
  get collections(): number {
    return this.#collections;
  }

  /** Records a write; `deletion` for writes that free objects. */
  mutation(deletion: boolean): void {
    if (this.#closed) return;
    if (deletion) this.#deletions++;
    else this.#mutations++;
    const now =
      (this.#deletionThreshold > 0 && this.#deletions >= this.#deletionThreshold) ||
      (this.#next === 0 &&
        ((this.#deletionThreshold === 0 && this.#deletions > 0) ||
          (this.#mutationThreshold > 0 && this.#mutations >= this.#mutationThreshold)));
    if (now) this.#armSoon();
  }

  /** Forces a GC and resolves with its stats. @throws what the GC throws, or when closed. */
  scheduleAndWait(): Promise<GcStats> {
    if (this.#closed) return Promise.reject(new Error("GC scheduler is closed"));
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#triggered = true;
      this.#armSoon();
      // Someone waits: keep the process alive until the run (idle timers are unref'd).
      this.#timer?.ref();
    });
  }

  /** Stops the timers; pending waiters are rejected. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#next = 0;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(new Error("GC scheduler closed before the collection ran"));
  }

  #armSoon(): void {
    if (this.#next === 0 || this.#next > Date.now() + this.#scheduleDelay)
      this.#arm(this.#scheduleDelay);
  }

  #arm(delay: number): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#next = Date.now() + delay;
    this.#timer = setTimeout(() => void this.#tick(), delay);
    if (this.#waiters.length === 0) this.#timer.unref();
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    this.#next = 0;
    if (this.#closed) return;
    if (this.#running) {
      this.#arm(10);
      return;
    }
    const work =
      this.#triggered ||
      this.#deletions > 0 ||
      (this.#mutationThreshold > 0 && this.#mutations >= this.#mutationThreshold);
    if (!work) return; // nothing to do: the next event re-arms
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#triggered = false;
    const deletions = this.#deletions;
    const mutations = this.#mutations;
    this.#deletions = 0;
    this.#mutations = 0;
    this.#running = true;
    const started = Date.now();
    try {
      const stats = await this.#run();
      this.#collections++;
      this.#pauseTotal += stats.pauseMs;
      this.#lastRun = started;
      for (const w of waiters) w.resolve(stats);
      if (this.#pauseThreshold > 0) {
        const avg = Math.max(this.#pauseTotal / this.#collections, MIN_AVERAGE_PAUSE_MS);
        const interval = avg / this.#pauseThreshold - avg;
        // As containerd: the next tick comes after the interval; an idle tick disarms.
        if (this.#waiters.length === 0) this.#arm(interval);
        else this.#arm(this.#scheduleDelay);
      }
    } catch (err) {
      this.#onError(err);
      for (const w of waiters) w.reject(err);
      this.#deletions += deletions;
      this.#mutations += mutations;
      const gap = this.#lastRun === 0 ? INITIAL_INTERVAL_MS : Date.now() - this.#lastRun;
      this.#arm(gap + 1000);
    } finally {
      this.#running = false;
    }
  }
}
