import { UnavailableError } from "@strata/errdefs";

/** What holds a ref lock: told when its ingest is aborted under it. */
export interface LockHolder {
  onAbort(): void;
}

interface Held {
  readonly ref: string;
  readonly since: Date;
  holder: LockHolder | undefined;
}

// One table for the whole process, keyed by the ingest directory (so two
// store instances on one root exclude each other, as containerd's package
// level lock map does). Nothing here crosses processes: see DESIGN-NOTE.md.
const HELD = new Map<string, Held>();

/**
 * Takes the lock of the ingest at `key` for `ref`, or fails at once.
 *
 * @throws {UnavailableError} `ref "x" locked for 1.2s (since …)` when held.
 */
export function lockRef(key: string, ref: string): void {
  const held = HELD.get(key);
  if (held !== undefined) {
    const seconds = ((Date.now() - held.since.getTime()) / 1000).toFixed(3);
    throw new UnavailableError(
      `ref ${JSON.stringify(ref)} locked for ${seconds}s (since ${held.since.toISOString()})`,
    );
  }
  HELD.set(key, { ref, since: new Date(), holder: undefined });
}

export function setLockHolder(key: string, holder: LockHolder): void {
  const held = HELD.get(key);
  if (held !== undefined) held.holder = holder;
}

export function unlockRef(key: string, holder?: LockHolder): void {
  const held = HELD.get(key);
  if (held !== undefined && (holder === undefined || held.holder === holder)) HELD.delete(key);
}

/** The holder of the lock of `key`, if any. */
export function holderOf(key: string): LockHolder | undefined {
  return HELD.get(key)?.holder;
}

/** Tells the holder of `key`, if any, that its ingest is gone. */
export function notifyAbort(key: string): void {
  HELD.get(key)?.holder?.onAbort();
}
