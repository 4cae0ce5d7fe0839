import type { CoordContext } from './context.js';
import { abortError, raceAbort } from './deadline.js';
import { AbortedError, CompactedError } from './errors.js';
import type { WatchBatch, WatchEvent, WatchSubscription } from './watch-hub.js';

interface Waiter {
  key: string;
  after: bigint;
  resolve: (revision: bigint) => void;
  reject: (err: Error) => void;
}

/** How many recent deletions to remember, for waits that start just after the deletion arrived. */
const RECENT_DELETES = 4096;

/**
 * The one way recipes wait for a key to go away (a lock's predecessor, a leader's key, a barrier key):
 * a watch on the recipe's whole prefix, shared through the coordinator's watch hub, opened *before* the
 * caller reads, so a wait costs one delete commit plus one watch notification (no polling, no parked
 * catch-up watcher, no per-wait watcher).
 *
 * Protocol: `open()` → read the store at revision R (after `open()` resolved) → `waitForDelete(key, R)`.
 * A deletion of `key` at any revision above R counts, even one that arrived before the wait began.
 *
 * @example
 * ```ts
 * const watch = await DeletionWatch.open(ctx, prefixKey, prefixEnd, signal);
 * try {
 *   const { revision, predecessor } = await readQueue();
 *   if (predecessor) await watch.waitForDelete(predecessor, revision, signal);
 * } finally { watch.close(); }
 * ```
 *
 * Failure modes: history compacted while the stream was down → every wait rejects with `CompactedError`
 * (re-read and wait again); the store was reset (etcd lost its data) → every wait rejects with
 * `StoreResetError`, a `CompactedError`, so the same re-read applies: on the new store a key held before is
 * gone (a lock holder's own key too: its lock is lost); `signal` aborts → `AbortedError` (or the signal's
 * `CoordError` reason).
 */
export class DeletionWatch {
  readonly #sub: WatchSubscription;
  readonly #waiters = new Set<Waiter>();
  /** key (hex) → revision of its latest deletion seen. Map order is insertion order: oldest first. */
  readonly #deleted = new Map<string, bigint>();
  /** Events from here on are delivered. */
  readonly since: bigint;
  #failed: Error | undefined;
  /** Deletions up to this revision may have been dropped from `#deleted`. */
  #forgottenUpTo = 0n;
  /** Extra listeners for recipes that also react to puts (e.g. a barrier's key appearing). */
  readonly #listeners = new Set<(e: WatchEvent, revision: bigint) => void>();

  private constructor(sub: WatchSubscription, since: bigint) {
    this.#sub = sub;
    this.since = since;
  }

  /**
   * Subscribes to `[key, end)` and resolves once the watch is live.
   *
   * @throws AbortedError when `signal` aborts first; UnavailableError when the coordinator is closed
   */
  static async open(
    ctx: CoordContext,
    key: Buffer,
    end: Buffer,
    signal?: AbortSignal,
  ): Promise<DeletionWatch> {
    let self: DeletionWatch | undefined;
    const early: WatchBatch[] = [];
    const sub = ctx.watchHub.watch(
      { key, end },
      {
        onBatch: (b) => (self ? self.#onBatch(b) : early.push(b)),
        onCompacted: (err) => (self ? self.#fail(err) : undefined),
        onError: (err) => (self ? self.#fail(err) : undefined),
      },
    );
    try {
      const since = await raceAbort(sub.ready, signal, 'wait for deletion');
      self = new DeletionWatch(sub, since);
      for (const b of early) self.#onBatch(b);
      return self;
    } catch (err) {
      sub.close();
      throw err;
    }
  }

  /**
   * Resolves with the revision of the first deletion of `key` above `afterRevision`.
   *
   * @throws CompactedError if the watch broke and events may have been missed (re-read, then wait again)
   */
  waitForDelete(key: Buffer, afterRevision: bigint, signal?: AbortSignal): Promise<bigint> {
    if (this.#failed) return Promise.reject(this.#failed);
    const hex = key.toString('hex');
    const seen = this.#deleted.get(hex);
    if (seen !== undefined && seen > afterRevision) return Promise.resolve(seen);
    if (afterRevision < this.#forgottenUpTo) {
      // More deletions happened since the caller's read than this watch remembers: it cannot tell, so the
      // caller must re-read (the same answer as for a broken watch).
      return Promise.reject(
        new CompactedError(
          `wait for deletion: too many deletions since revision ${afterRevision}; re-read`,
          this.#forgottenUpTo,
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(abortError(signal, 'wait for deletion'));
    return new Promise<bigint>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(abortError(signal!, 'wait for deletion'));
      };
      const waiter: Waiter = {
        key: hex,
        after: afterRevision,
        resolve: (rev) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(rev);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Synchronously: the revision of a deletion of `key` above `afterRevision` this watch has delivered,
   * `undefined` when it has delivered none, or `null` when it cannot tell (it failed, or its memory of recent
   * deletions no longer reaches back to `afterRevision`). Lets a caller woken by one deletion check, in the
   * same tick, that another key was not deleted at the same or an earlier revision.
   */
  deletedAbove(key: Buffer, afterRevision: bigint): bigint | undefined | null {
    if (this.#failed || afterRevision < this.#forgottenUpTo || afterRevision < this.since) return null;
    const seen = this.#deleted.get(key.toString('hex'));
    return seen !== undefined && seen > afterRevision ? seen : undefined;
  }

  /** Calls `fn` for every event in the range (puts and deletes) until the returned function is called. */
  onEvent(fn: (event: WatchEvent, revision: bigint) => void): () => void {
    this.#listeners.add(fn);
    return () => void this.#listeners.delete(fn);
  }

  /** Leaves the shared watch. Pending waits reject with `AbortedError`. Idempotent. */
  close(): void {
    this.#sub.close();
    this.#listeners.clear();
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w.reject(new AbortedError('wait for deletion: watch closed'));
  }

  #fail(err: Error | CompactedError): void {
    this.#failed = err;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w.reject(err);
  }

  #onBatch(batch: WatchBatch): void {
    for (const event of batch.events) {
      for (const fn of this.#listeners) fn(event, batch.revision);
      if (event.type !== 'delete') continue;
      const hex = event.kv.key.toString('hex');
      this.#deleted.delete(hex);
      this.#deleted.set(hex, batch.revision);
      if (this.#deleted.size > RECENT_DELETES) {
        const oldest = this.#deleted.keys().next().value;
        if (oldest !== undefined) {
          this.#forgottenUpTo = this.#deleted.get(oldest) ?? this.#forgottenUpTo;
          this.#deleted.delete(oldest);
        }
      }
      for (const w of this.#waiters) {
        if (w.key === hex && batch.revision > w.after) {
          this.#waiters.delete(w);
          w.resolve(batch.revision);
        }
      }
    }
  }
}
