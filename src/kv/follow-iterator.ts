import type { CoordContext } from '../core/context.js';
import { PermissionDeniedError } from '../core/errors.js';
import type { KeyValue } from '../core/kv.js';
import type { WatchBatch } from '../core/watch-hub.js';
import { RangeFollower, type SnapshotReason } from '../range/follow.js';
import type { KVWatchOptions } from './options.js';

/**
 * The async iterator behind `kv.watch` and `kv.watchTree`: a {@link RangeFollower} (the hub's shared
 * watcher, a consistent read, re-reads after compaction or a store reset) turned into a queue of items.
 * Subclasses say what an item is. `return()` (a `break`) closes the follower, which releases the hub
 * subscription (the etcd watcher is cancelled when its last subscriber leaves).
 *
 * The first `next()` settles within `timeoutMs` (default `requestTimeoutMs`): the current state, or an
 * `UnavailableError` (and the iterator ends). Later ones wait for the next change, until `signal` aborts,
 * `return()` is called or the coordinator closes (then they resolve `done`).
 */
export abstract class FollowIterator<T> implements AsyncIterableIterator<T> {
  readonly #ctx: CoordContext;
  readonly #key: string;
  readonly #exact: boolean;
  readonly #opts: KVWatchOptions;
  readonly #max: number;
  readonly #queue: T[] = [];
  #follower: RangeFollower | undefined;
  #starting: Promise<void> | undefined;
  #untrack: (() => void) | undefined;
  #waiting: { resolve: (r: IteratorResult<T>) => void; reject: (err: Error) => void } | undefined;
  #failed: Error | undefined;
  #done = false;
  readonly #onAbort = () => void this.return();

  protected constructor(ctx: CoordContext, key: string, exact: boolean, opts: KVWatchOptions) {
    this.#ctx = ctx;
    this.#key = key;
    this.#exact = exact;
    this.#opts = opts;
    this.#max = opts.maxBuffered ?? 1024;
  }

  /** The item for a (re-)read of the whole range at `revision`; `undefined` for none. */
  protected abstract snapshot(kvs: KeyValue[], revision: bigint, reason: SnapshotReason): T | undefined;
  /** The item for one revision's changes; `undefined` for none. */
  protected abstract batch(batch: WatchBatch): T | undefined;
  /** One item standing for `older` then `newer`, for a consumer that fell {@link KVWatchOptions.maxBuffered} behind. */
  protected abstract merge(older: T, newer: T): T;

  /** The iterator itself: `for await` over it. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The next item: the current state first, then one per change; `done` once cancelled or failed. */
  async next(): Promise<IteratorResult<T>> {
    if (this.#done && this.#queue.length === 0) return this.#end();
    this.#starting ??= this.#start();
    await this.#starting;
    const item = this.#queue.shift();
    if (item !== undefined) return { done: false, value: item };
    if (this.#done) return this.#end();
    return new Promise<IteratorResult<T>>((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  /** Stops watching and releases the hub subscription. Idempotent. */
  return(): Promise<IteratorResult<T>> {
    if (!this.#done) {
      this.#done = true;
      this.#queue.length = 0;
      this.#follower?.close();
      this.#untrack?.();
      this.#opts.signal?.removeEventListener('abort', this.#onAbort);
      const waiting = this.#waiting;
      this.#waiting = undefined;
      waiting?.resolve({ done: true, value: undefined });
    }
    return Promise.resolve({ done: true, value: undefined });
  }

  /** For `coord.close()`. */
  async close(): Promise<void> {
    await this.return();
  }

  #end(): Promise<IteratorResult<T>> {
    const err = this.#failed;
    this.#failed = undefined;
    return err ? Promise.reject(err) : Promise.resolve({ done: true, value: undefined });
  }

  async #start(): Promise<void> {
    const { signal } = this.#opts;
    if (signal?.aborted || this.#ctx.closedSignal.aborted) {
      await this.return();
      return;
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#untrack = this.#ctx.track(this);
    const follower = new RangeFollower(
      this.#ctx,
      this.#key,
      {
        onSnapshot: (kvs, revision, reason) => this.#push(this.snapshot(kvs, revision, reason)),
        onBatch: (b) => this.#push(this.batch(b)),
        // A refusal does not fix itself: end the iteration with it rather than re-reading for ever.
        onError: (err) => {
          if (err instanceof PermissionDeniedError) this.#fail(err);
        },
      },
      { exact: this.#exact },
    );
    this.#follower = follower;
    try {
      await follower.start({ signal, timeoutMs: this.#opts.timeoutMs });
    } catch (err) {
      await this.return();
      if (signal?.aborted) return;
      throw err;
    }
  }

  #fail(err: Error): void {
    if (this.#done) return;
    const waiting = this.#waiting;
    this.#waiting = undefined;
    void this.return();
    if (waiting) waiting.reject(err);
    else this.#failed = err;
  }

  #push(item: T | undefined): void {
    if (item === undefined || this.#done) return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting.resolve({ done: false, value: item });
      return;
    }
    if (this.#queue.length >= this.#max) {
      this.#queue.push(this.merge(this.#queue.pop()!, item));
      return;
    }
    this.#queue.push(item);
  }
}
