import type { CoordContext } from '../core/context.js';
import { raceAbort } from '../core/deadline.js';
import { AbortedError, CoordError } from '../core/errors.js';
import type { KeyValue } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import type { WatchBatch, WatchSubscription } from '../core/watch-hub.js';
import { RangeQuery } from './range.js';

/** What a {@link RangeFollower} reports. Keys are app-relative (the namespace removed). */
export interface FollowHandlers {
  /**
   * The whole range as it was at `revision`. Called once on start, and again whenever the follower had to
   * re-read because history it needed was compacted: replace your state with it.
   */
  onSnapshot(kvs: KeyValue[], revision: bigint): void;
  /** Every change after the last snapshot, one call per revision, in order, none skipped or repeated. */
  onBatch(batch: WatchBatch): void;
  /** A re-read failed (it is retried) or etcd cancelled the watch; the follower keeps trying until closed. */
  onError?(err: Error): void;
}

/**
 * Keeps up with a prefix: a consistent snapshot, then every change after it. The watch is opened *before*
 * the snapshot is read, so it is live (not parked for etcd's catch-up) and no revision between the two can
 * fall through; events at or below the snapshot's revision are dropped. A compaction that breaks the watch
 * leads to a fresh snapshot.
 *
 * @example
 * ```ts
 * const f = new RangeFollower(ctx, 'services/payments/', { onSnapshot, onBatch });
 * await f.start({ signal });
 * f.close();
 * ```
 */
export class RangeFollower {
  readonly #ctx: CoordContext;
  readonly #prefix: string;
  readonly #handlers: FollowHandlers;
  readonly #prevKv: boolean;
  readonly #closed = new AbortController();
  #sub: WatchSubscription | undefined;
  #buffer: WatchBatch[] | undefined;
  #revision = 0n;

  constructor(ctx: CoordContext, prefix: string, handlers: FollowHandlers, opts: { prevKv?: boolean } = {}) {
    this.#ctx = ctx;
    this.#prefix = prefix;
    this.#handlers = handlers;
    this.#prevKv = opts.prevKv ?? false;
  }

  /** Revision of the last snapshot or batch delivered. */
  get revision(): bigint {
    return this.#revision;
  }

  /**
   * Reads the first snapshot and starts following.
   *
   * @throws UnavailableError / AbortedError when the first snapshot cannot be read
   */
  async start(opts: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    await this.#load(opts.signal);
  }

  /** Stops following. Idempotent. */
  close(): void {
    this.#closed.abort();
    this.#sub?.close();
    this.#sub = undefined;
  }

  async #load(signal: AbortSignal | undefined): Promise<void> {
    this.#sub?.close();
    const strip = this.#ctx.keyspace.prefix.length;
    const range = this.#ctx.keyspace.prefixRange(this.#prefix);
    this.#buffer = [];
    const sub = this.#ctx.watchHub.watch(
      { key: range.key, end: range.end, prevKv: this.#prevKv },
      {
        onBatch: (b) => this.#onBatch(stripBatch(b, strip)),
        onCompacted: () => this.#resync(),
        onError: (err) => {
          // The coordinator closed: nothing to follow any more.
          if (err instanceof AbortedError) return;
          this.#handlers.onError?.(err);
          this.#resync();
        },
      },
    );
    this.#sub = sub;
    try {
      await raceAbort(sub.ready, signal, 'follow');
      const query = new RangeQuery(this.#ctx, this.#prefix, signal ? { signal } : {});
      const kvs: KeyValue[] = [];
      for await (const kv of query) kvs.push(kv);
      if (sub !== this.#sub) return;
      const revision = query.revision ?? 0n;
      this.#revision = revision;
      this.#handlers.onSnapshot(kvs, revision);
      const buffered = this.#buffer ?? [];
      this.#buffer = undefined;
      for (const b of buffered) this.#deliver(b);
    } catch (err) {
      if (sub === this.#sub) {
        sub.close();
        this.#sub = undefined;
      }
      throw err;
    }
  }

  #onBatch(batch: WatchBatch): void {
    if (this.#buffer) this.#buffer.push(batch);
    else this.#deliver(batch);
  }

  #deliver(batch: WatchBatch): void {
    if (batch.revision <= this.#revision) return;
    this.#revision = batch.revision;
    this.#handlers.onBatch(batch);
  }

  #resync(): void {
    if (this.#closed.signal.aborted) return;
    this.#sub?.close();
    this.#sub = undefined;
    const signal = this.#closed.signal;
    withRetry(() => this.#load(signal), {
      signal,
      retries: Number.MAX_SAFE_INTEGER,
      maxTimeoutMs: 2000,
      shouldRetry: (err) => {
        if (err instanceof Error) this.#handlers.onError?.(err);
        return !signal.aborted && (err instanceof CoordError ? err.code !== 'ABORTED' : true);
      },
    }).catch(() => undefined);
  }
}

function stripBatch(batch: WatchBatch, strip: number): WatchBatch {
  if (strip === 0) return batch;
  return {
    revision: batch.revision,
    events: batch.events.map((e) => ({
      type: e.type,
      kv: { ...e.kv, key: e.kv.key.subarray(strip) },
      prevKv: e.prevKv ? { ...e.prevKv, key: e.prevKv.key.subarray(strip) } : undefined,
    })),
  };
}
