import { detached } from '../core/call-scope.js';
import type { CoordContext } from '../core/context.js';
import { raceAbort, withDeadline } from '../core/deadline.js';
import { EPOCH_KEY, StoreResetError } from '../core/epoch.js';
import { AbortedError, CoordError, UnavailableError } from '../core/errors.js';
import { keyAfter } from '../core/keys.js';
import type { KeyValue } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import type { WatchBatch, WatchSubscription } from '../core/watch-hub.js';
import { RangeQuery } from './range.js';

/**
 * Why a snapshot was read: the first one (`initial`), a re-read after the history needed to resume was
 * compacted or the watch broke (`resync`), or a re-read because the store was reset (`reset`: revisions
 * started over, so `revision` may be *lower* than anything delivered before).
 */
export type SnapshotReason = 'initial' | 'resync' | 'reset';

/** What a {@link RangeFollower} reports. Keys are app-relative (the namespace removed). */
export interface FollowHandlers {
  /**
   * The whole range as it was at `revision`. Called once on start, and again whenever the follower had to
   * re-read (compaction, a cancelled watch, a store reset): replace your state with it.
   */
  onSnapshot(kvs: KeyValue[], revision: bigint, reason: SnapshotReason): void;
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
  readonly #exact: boolean;
  readonly #closed = new AbortController();
  #sub: WatchSubscription | undefined;
  #buffer: WatchBatch[] | undefined;
  #revision = 0n;
  readonly #epochKey: Buffer;

  /**
   * `exact`: follow the one key `prefix` (`[key, key\0)`), not every key that starts with it (`kv.watch`).
   */
  constructor(
    ctx: CoordContext,
    prefix: string,
    handlers: FollowHandlers,
    opts: { prevKv?: boolean; exact?: boolean } = {},
  ) {
    this.#ctx = ctx;
    this.#prefix = prefix;
    this.#handlers = handlers;
    this.#prevKv = opts.prevKv ?? false;
    this.#exact = opts.exact ?? false;
    this.#epochKey = ctx.keyspace.key(EPOCH_KEY);
  }

  /** Revision of the last snapshot or batch delivered. */
  get revision(): bigint {
    return this.#revision;
  }

  /**
   * Reads the first snapshot and starts following, within `timeoutMs` (default: the coordinator's
   * `requestTimeoutMs`; `Infinity` for a caller that bounds the wait itself).
   *
   * @throws UnavailableError when the watch is not live and the snapshot read within `timeoutMs` (etcd unreachable)
   * @throws AbortedError when `signal` aborts first
   */
  async start(
    opts: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined } = {},
  ): Promise<void> {
    const ms = opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs;
    // The watch's `ready` waits for etcd as long as it takes: without a deadline a start hangs (issue 16).
    const wait = withDeadline(opts.signal, Number.isFinite(ms) ? ms : undefined);
    try {
      await this.#load(wait.signal, 'initial');
    } catch (err) {
      if (!wait.timedOut) throw err;
      throw new UnavailableError(
        `follow "${this.#prefix}": not loaded within ${ms} ms (is etcd reachable?)`,
        {
          cause: err,
        },
      );
    } finally {
      wait.dispose();
    }
  }

  /** Stops following. Idempotent. */
  close(): void {
    this.#closed.abort();
    this.#sub?.close();
    this.#sub = undefined;
  }

  async #load(signal: AbortSignal | undefined, reason: SnapshotReason): Promise<void> {
    this.#sub?.close();
    const strip = this.#ctx.keyspace.prefix.length;
    const range = this.#exact
      ? { key: this.#ctx.keyspace.key(this.#prefix), end: keyAfter(this.#ctx.keyspace.key(this.#prefix)) }
      : this.#ctx.keyspace.prefixRange(this.#prefix);
    this.#buffer = [];
    const sub = this.#ctx.watchHub.watch(
      { key: range.key, end: range.end, prevKv: this.#prevKv },
      {
        onBatch: (b) => this.#onBatch(stripBatch(b, strip, this.#epochKey)),
        onCompacted: (err) => this.#resync(err instanceof StoreResetError ? 'reset' : 'resync'),
        onError: (err) => {
          // The coordinator closed: nothing to follow any more.
          if (err instanceof AbortedError) return;
          this.#handlers.onError?.(err);
          this.#resync('resync');
        },
      },
    );
    this.#sub = sub;
    try {
      await raceAbort(sub.ready, signal, 'follow');
      const end = this.#exact ? { end: keyAfter(Buffer.from(this.#prefix)) } : {};
      const query = new RangeQuery(this.#ctx, this.#prefix, signal ? { signal, ...end } : end);
      const kvs: KeyValue[] = [];
      for await (const kv of query) kvs.push(kv);
      if (sub !== this.#sub) return;
      const revision = query.revision ?? 0n;
      this.#revision = revision;
      this.#handlers.onSnapshot(kvs, revision, reason);
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

  #onBatch(batch: WatchBatch | undefined): void {
    if (!batch) return;
    if (this.#buffer) this.#buffer.push(batch);
    else this.#deliver(batch);
  }

  #deliver(batch: WatchBatch): void {
    if (batch.revision <= this.#revision) return;
    this.#revision = batch.revision;
    this.#handlers.onBatch(batch);
  }

  #resync(reason: SnapshotReason): void {
    if (this.#closed.signal.aborted) return;
    this.#sub?.close();
    this.#sub = undefined;
    const signal = this.#closed.signal;
    // A background re-read, until the follower closes: never under the deadline of whatever call is running.
    detached(() =>
      withRetry(() => this.#load(signal, reason), {
        signal,
        retries: Number.MAX_SAFE_INTEGER,
        maxTimeoutMs: 2000,
        shouldRetry: (err) => {
          if (err instanceof Error) this.#handlers.onError?.(err);
          return !signal.aborted && (err instanceof CoordError ? err.code !== 'ABORTED' : true);
        },
      }),
    ).catch(() => undefined);
  }
}

/** The batch with the namespace removed from its keys and the generation marker left out (`undefined` if nothing is left). */
function stripBatch(batch: WatchBatch, strip: number, epochKey: Buffer): WatchBatch | undefined {
  const events = batch.events.filter((e) => !e.kv.key.equals(epochKey));
  if (events.length === 0) return undefined;
  if (strip === 0)
    return events.length === batch.events.length ? batch : { revision: batch.revision, events };
  return {
    revision: batch.revision,
    events: events.map((e) => ({
      type: e.type,
      kv: { ...e.kv, key: e.kv.key.subarray(strip) },
      prevKv: e.prevKv ? { ...e.prevKv, key: e.prevKv.key.subarray(strip) } : undefined,
    })),
  };
}
