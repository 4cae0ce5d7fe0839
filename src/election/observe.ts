import type { CoordContext } from '../core/context.js';
import type { KeyValue } from '../core/kv.js';
import type { WatchBatch } from '../core/watch-hub.js';
import { RangeFollower } from '../range/follow.js';
import { pickLeader, toLeaderInfo, type LeaderInfo } from './leader.js';

/**
 * The iterator behind `Election.observe()`: a {@link RangeFollower} on the election's prefix, reduced to
 * "who leads, with which value". Holds at most one undelivered value (the latest).
 *
 * The first `next()` settles within the coordinator's `requestTimeoutMs` (UnavailableError while etcd is
 * unreachable, and the iterator ends); later ones are a long wait for the next change, ended by `signal` or
 * `return()`. After a store reset the election is re-read and its leader reported, even though its create
 * revision is lower than the last leader's.
 */
export class LeaderObserver implements AsyncIterableIterator<LeaderInfo | null> {
  readonly #ctx: CoordContext;
  readonly #prefix: string;
  readonly #signal: AbortSignal | undefined;
  readonly #candidates = new Map<string, KeyValue>();
  #follower: RangeFollower | undefined;
  #starting: Promise<void> | undefined;
  #untrack: (() => void) | undefined;
  /** Last leader handed out (or queued): `undefined` before the first. */
  #last: { leader: LeaderInfo | null } | undefined;
  /** Highest create revision of any leader reported: an older one is never reported after it. */
  #newest = 0n;
  #pending: { leader: LeaderInfo | null } | undefined;
  #waiting: ((r: IteratorResult<LeaderInfo | null>) => void) | undefined;
  #done = false;
  readonly #onAbort = () => void this.return();

  constructor(ctx: CoordContext, prefix: string, signal: AbortSignal | undefined) {
    this.#ctx = ctx;
    this.#prefix = prefix;
    this.#signal = signal;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<LeaderInfo | null>> {
    if (this.#done) return { done: true, value: undefined };
    if (!this.#starting) this.#starting = this.#start();
    await this.#starting;
    if (this.#done) return { done: true, value: undefined };
    const pending = this.#pending;
    if (pending) {
      this.#pending = undefined;
      return { done: false, value: pending.leader };
    }
    return new Promise<IteratorResult<LeaderInfo | null>>((resolve) => {
      this.#waiting = resolve;
    });
  }

  /** Stops observing and cancels the watch. Idempotent. */
  return(): Promise<IteratorResult<LeaderInfo | null>> {
    if (!this.#done) {
      this.#done = true;
      this.#follower?.close();
      this.#untrack?.();
      this.#signal?.removeEventListener('abort', this.#onAbort);
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.({ done: true, value: undefined });
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  /** For `coord.close()`. */
  async close(): Promise<void> {
    await this.return();
  }

  async #start(): Promise<void> {
    if (this.#signal?.aborted || this.#ctx.closedSignal.aborted) {
      await this.return();
      return;
    }
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#untrack = this.#ctx.track(this);
    const follower = new RangeFollower(this.#ctx, this.#prefix, {
      onSnapshot: (kvs, _revision, reason) => {
        // Revisions started over: a new leader's lower create revision is not "older" than the last one.
        if (reason === 'reset') this.#newest = 0n;
        this.#candidates.clear();
        for (const kv of kvs) this.#candidates.set(kv.key.toString('hex'), kv);
        this.#update();
      },
      onBatch: (batch) => this.#apply(batch),
    });
    this.#follower = follower;
    try {
      // The first value comes within the request timeout, or the first next() rejects UNAVAILABLE (issue 16).
      await follower.start(this.#signal ? { signal: this.#signal } : {});
    } catch (err) {
      await this.return();
      if (this.#signal?.aborted) return;
      throw err;
    }
  }

  #apply(batch: WatchBatch): void {
    for (const e of batch.events) {
      const hex = e.kv.key.toString('hex');
      if (e.type === 'delete') this.#candidates.delete(hex);
      else this.#candidates.set(hex, e.kv);
    }
    this.#update();
  }

  #update(): void {
    if (this.#done) return;
    // Only exact `<name>/<lease hex>` keys are candidates, not a nested name's (issue 16 f3).
    const kv = pickLeader(this.#candidates.values(), Buffer.from(this.#prefix));
    const leader = kv ? toLeaderInfo(kv) : null;
    const last = this.#last?.leader;
    if (
      this.#last &&
      last?.key === leader?.key &&
      last?.revision === leader?.revision &&
      last?.modRevision === leader?.modRevision
    ) {
      return;
    }
    if (leader && leader.revision < this.#newest) return;
    if (leader) this.#newest = leader.revision;
    this.#last = { leader };
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting({ done: false, value: leader });
    } else {
      this.#pending = { leader };
    }
  }
}
