import type { CoordContext } from '../core/context.js';
import { AbortedError, CoordError, LockLostError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { assertOptionalDuration, assertOptionalSignal, assertOptions } from '../core/validate.js';
import { kvsOf } from './blockers.js';
import { Lock } from './lock.js';
import { keyRelease } from './lock-key.js';
import type { Granted, QueueSpec } from './queue.js';

/** Options of {@link WriteLock.downgrade}. */
export interface DowngradeOptions {
  /** Stops waiting for etcd's answer; the write lock is then released (see {@link WriteLock.downgrade}). */
  signal?: AbortSignal | undefined;
  /** Bounds the call. Default: the coordinator's `requestTimeoutMs`. */
  timeoutMs?: number | undefined;
}

/**
 * The write lock of an {@link RWMutex}: a {@link Lock} that can also become a read lock without being
 * released ({@link downgrade}).
 *
 * Keys: the write key `<name>/write/<S>` and its companion read key `<name>/read/<S>` (same suffix `S`),
 * created in one txn, so with one create revision — the lock's fencing token. Readers wait only for write
 * keys, so while the write key exists the companion changes nothing; writers count every older key, so the
 * companion holds the writer's place in the queue once the write key is gone.
 *
 * @example
 * ```ts
 * const w = await coord.rwMutex('catalog').writeLock();
 * await rebuild(w.fencingToken);
 * await using r = await w.downgrade(); // still no writer can get in; waiting readers now share it
 * await verify();
 * ```
 *
 * Failure modes: as {@link Lock}; losing either key (lease expiry, `etcdctl del`) aborts `signal`.
 */
export class WriteLock extends Lock {
  readonly #ctx: CoordContext;
  readonly #readSpec: QueueSpec;

  /** @internal made by `RWMutex.writeLock()` */
  constructor(ctx: CoordContext, spec: QueueSpec, granted: Granted, readSpec: QueueSpec) {
    super(ctx, spec, granted);
    this.#ctx = ctx;
    this.#readSpec = readSpec;
  }

  /**
   * Turns this write lock into a read lock without releasing it (Curator's downgrade: acquire the read lock
   * while holding the write lock, then release the write lock): one txn deletes the write key and keeps the
   * companion read key, which was created with the write key and so keeps the writer's place in the queue.
   *
   * Semantics: at no revision is the lock free, and no writer can get in between (every writer queued
   * behind this one counts the companion as older). Readers queued behind this writer — up to the next
   * queued writer — are granted at once and share the lock; readers behind that next writer keep waiting
   * for it (FIFO as always). The read handle's `fencingToken` is this write lock's (the companion's create
   * revision is the write key's): a later writer's token is greater, and a resource that fences by token
   * sees the read handle as this writer, so use the read handle only to read.
   *
   * This handle ends at the call: its `signal` aborts with `AbortedError` ("downgraded") before the txn is
   * sent, so work guarded by it stops writing; its `unlock()` then does nothing. Call it once.
   *
   * @example
   * ```ts
   * const r = await writeLock.downgrade({ timeoutMs: 2000 });
   * try { await readConsistently(r.signal); } finally { await r.unlock(); }
   * ```
   *
   * @returns the read lock (a {@link Lock} on the companion key)
   * @throws LockLostError when this write lock is lost, already unlocked or downgraded, or its keys vanish
   *   during the call (nothing is held then)
   * @throws UnavailableError when etcd does not confirm within `timeoutMs`; AbortedError when `signal`
   *   aborts. In both cases the write lock is released (its keys deleted in the background, as by
   *   `unlock()`): the caller holds nothing, never an unknown state.
   * @throws InvalidArgumentError / TypeError for bad options, before anything changes
   */
  async downgrade(opts: DowngradeOptions = {}): Promise<Lock> {
    assertOptions(opts, 'opts');
    assertOptionalSignal(opts.signal, 'signal');
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    const what = `${this.#readSpec.what.replace(/ \(read\)$/, '')}: downgrade`;
    const granted = this.detach(new AbortedError(`${what}d to a read lock`));
    if (!granted) {
      const reason = this.signal.reason as Error | undefined;
      throw new LockLostError(
        `${what}: the write lock is no longer held (${reason?.message ?? 'released'})`,
        {
          cause: reason,
        },
      );
    }
    const { key: writeKey, createRevision: rev } = granted;
    const readKey = granted.extraKeys[0]!;
    const token = rev.toString();
    let kept: boolean;
    try {
      const res = await withRetry(
        () =>
          this.#ctx.requester.run(
            what,
            (o) =>
              this.#ctx.client.kv.txn(
                {
                  compare: [
                    { key: writeKey, target: 'Create', result: 'Equal', create_revision: token },
                    { key: readKey, target: 'Create', result: 'Equal', create_revision: token },
                  ],
                  success: [{ request_delete_range: { key: writeKey } }],
                  failure: [{ request_range: { key: writeKey } }, { request_range: { key: readKey } }],
                },
                o,
              ),
            { write: true, signal: opts.signal },
          ),
        {
          signal: opts.signal,
          timeoutMs: opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs,
          what,
          // Safe to repeat: once applied, a repeat finds the write key gone and the read key kept.
          shouldRetry: (err) => err instanceof CoordError && err.code === 'UNAVAILABLE',
        },
      );
      const read = kvsOf(res, 1)[0];
      kept =
        res.succeeded ||
        (kvsOf(res, 0).length === 0 && read !== undefined && BigInt(read.create_revision) === rev);
    } catch (err) {
      this.#releaseAll(granted, what);
      throw err;
    }
    if (!kept) {
      this.#releaseAll(granted, what);
      throw new LockLostError(`${what}: the lock's keys were deleted (by someone else, or with their lease)`);
    }
    granted.dropHold(writeKey);
    return new Lock(this.#ctx, this.#readSpec, { ...granted, key: readKey, extraKeys: [] });
  }

  /** After a failed downgrade: both keys go, as by `unlock()`, retried in the background. */
  #releaseAll(granted: Granted, what: string): void {
    const release = keyRelease(
      this.#ctx,
      granted.key,
      granted.createRevision,
      `${what}: release`,
      granted.session,
      () => {
        granted.watch.release();
        granted.gone();
      },
      [],
      granted.extraKeys,
    );
    void release.run().catch(() => undefined);
  }
}
