import { FailedPreconditionError } from "@strata/errdefs";
import type { CacheRecord } from "@strata/metadata";
import type { Mount } from "@strata/snapshots";

/** @internal What a ref handle asks of its manager. */
export interface RefOwner {
  record(id: string): CacheRecord;
  openImmutable(id: string): ImmutableRef;
  mountImmutable(id: string, options: { signal?: AbortSignal }): Promise<Mount[]>;
  extractRef(id: string, options: { signal?: AbortSignal }): Promise<void>;
  finalizeRef(id: string, options: { signal?: AbortSignal }): Promise<void>;
  releaseImmutable(id: string): Promise<void>;
  sizeOf(id: string, options: { signal?: AbortSignal }): Promise<number>;
  mountMutable(id: string, options: { signal?: AbortSignal }): Promise<Mount[]>;
  commitMutable(id: string, options: { signal?: AbortSignal }): Promise<ImmutableRef>;
  releaseMutable(id: string): Promise<void>;
}

/**
 * @internal What both kinds of handle share: the record id, its manager,
 * and whether the handle is spent (released, or a mutable ref committed).
 */
export abstract class RefHandle {
  /** The record id. */
  readonly id: string;
  protected readonly owner: RefOwner;
  readonly #kind: string;
  #released = false;

  protected constructor(owner: RefOwner, id: string, kind: string) {
    this.owner = owner;
    this.id = id;
    this.#kind = kind;
  }

  /** Whether the handle was released (or, for a mutable ref, committed). */
  get released(): boolean {
    return this.#released;
  }

  /** The record as stored now. @throws {NotFoundError} when it was removed. */
  info(): CacheRecord {
    return this.owner.record(this.id);
  }

  /** Spends the handle; false when it already was. */
  protected spend(): boolean {
    if (this.#released) return false;
    this.#released = true;
    return true;
  }

  /** @throws {FailedPreconditionError} once the handle is spent. */
  protected check(what: string): void {
    if (this.#released) {
      throw new FailedPreconditionError(`cannot ${what} ${this.#kind} ${this.id}: released`);
    }
  }
}

/**
 * A handle on an immutable cache record. While any handle of a record is
 * open the record is in use: prune skips it and its parents. Release every
 * handle you open (or {@link clone}).
 */
export class ImmutableRef extends RefHandle {
  /** @internal Use the CacheManager. */
  constructor(owner: RefOwner, id: string) {
    super(owner, id, "ref");
  }

  /** A second handle on the same record. @throws {FailedPreconditionError} after release. */
  clone(): ImmutableRef {
    this.check("clone");
    return this.owner.openImmutable(this.id);
  }

  /**
   * Read-only mounts of the ref's tree, extracting lazy layers first and
   * building the snapshot of a merge or diff ref (`mergeSnapshots`) on
   * first use.
   *
   * @throws {FailedPreconditionError} after release, or when a lazy blob has no provider.
   */
  mount(options: { signal?: AbortSignal } = {}): Promise<Mount[]> {
    this.check("mount");
    return this.owner.mountImmutable(this.id, options);
  }

  /** Makes the ref's snapshot exist (fetching and applying lazy layers). */
  extract(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.check("extract");
    return this.owner.extractRef(this.id, options);
  }

  /** Commits the snapshot of a lazily committed ref (no-op when done). */
  finalize(options: { signal?: AbortSignal } = {}): Promise<void> {
    this.check("finalize");
    return this.owner.finalizeRef(this.id, options);
  }

  /** Bytes the record holds (snapshot unless lazy, blob and variants). */
  size(options: { signal?: AbortSignal } = {}): Promise<number> {
    this.check("size");
    return this.owner.sizeOf(this.id, options);
  }

  /** Drops this handle; the record stays as cache until pruned. Idempotent. */
  async release(): Promise<void> {
    if (this.spend()) await this.owner.releaseImmutable(this.id);
  }
}

/**
 * A handle on a mutable record: an active snapshot to write into. Commit it
 * into an immutable ref, or release it (which removes it unless its cache
 * policy is `retain`).
 */
export class MutableRef extends RefHandle {
  /** @internal Use the CacheManager. */
  constructor(owner: RefOwner, id: string) {
    super(owner, id, "mutable ref");
  }

  /** Writable mounts of the active snapshot. @throws {FailedPreconditionError} after release. */
  mount(options: { signal?: AbortSignal } = {}): Promise<Mount[]> {
    this.check("mount");
    return this.owner.mountMutable(this.id, options);
  }

  /**
   * Turns the record into an immutable ref (cheap: the snapshot is committed
   * later, when needed). This handle is consumed. Unmount first.
   *
   * @throws {FailedPreconditionError} after release.
   */
  async commit(options: { signal?: AbortSignal } = {}): Promise<ImmutableRef> {
    this.check("commit");
    this.spend();
    return this.owner.commitMutable(this.id, options);
  }

  /** Drops this handle; removes the record unless it is retained. Idempotent. */
  async release(): Promise<void> {
    if (this.spend()) await this.owner.releaseMutable(this.id);
  }
}
