import type { CoordContext } from '../core/context.js';
import { raceAbort, withDeadline } from '../core/deadline.js';
import { LockTimeoutError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { assertInteger, assertName } from '../core/validate.js';
import { Mutex, type Lock } from '../lock/index.js';
import { RangeQuery } from '../range/range.js';
import { atomicDelete, atomicPut } from './atomic.js';
import { checkKey, checkPrefix, checkPrevious, checkTtl, checkValue, toPair } from './kv-pair.js';
import type { KVPair, KVValue } from './kv-pair.js';
import {
  checkCallOptions,
  checkWatchOptions,
  readWithRetry,
  type DeleteOptions,
  type KVCallOptions,
  type KVLockOptions,
  type KVWatchOptions,
  type PutOptions,
} from './options.js';
import { TtlLeases } from './ttl-leases.js';
import { KeyWatch } from './watch-key.js';
import { TreeWatch } from './watch-tree.js';
import { deleteRange, getStamped, putKey } from './writes.js';
import { checkGuard, guardedDelete, guardedPut } from './guarded.js';

/**
 * libkv's `Store` on etcd-coord's core: plain keys, compare-and-set, ephemeral (TTL) keys, resumable
 * watches of a key or a prefix, and locks, with keys relative to the coordinator's namespace.
 * `coord.kv` is the coordinator's one Store.
 *
 * @example
 * ```ts
 * await coord.kv.put('nodes/a', '10.0.0.1', { ttlSeconds: 5 });
 * const pair = await coord.kv.get('nodes/a');
 * await coord.kv.atomicPut('nodes/a', '10.0.0.2', pair);
 * ```
 *
 * Every call takes `{ signal, timeoutMs }` (default `timeoutMs`: the coordinator's `requestTimeoutMs`)
 * and settles within `timeoutMs` plus the documented slack (`WaitOptions`). Bad input — an empty key or
 * one holding a NUL byte, a value that is not a string/Buffer/Uint8Array or over etcd's 1.5 MiB request
 * limit, a TTL below 2 s — is rejected before any request, naming the argument.
 *
 * Failure modes: reads and guarded writes are repeated while etcd is unavailable, within `timeoutMs`.
 * Unconditional writes (`put`, `delete`, `deleteTree`) are repeated only while no attempt can have
 * reached etcd; one whose answer is lost is an `UnavailableError` with `mayHaveApplied` (and may still
 * apply later): repeating it blindly could undo another client's newer write, so the caller decides —
 * use `atomicPut`/`atomicDelete` when the order of writes matters.
 */
export class Store {
  readonly #ctx: CoordContext;
  readonly #leases: TtlLeases;

  /** @internal use `coord.kv` */
  constructor(ctx: CoordContext) {
    this.#ctx = ctx;
    this.#leases = new TtlLeases(ctx);
  }

  /**
   * The key, or `null` when it does not exist (libkv: `ErrKeyNotFound`). One linearizable read.
   *
   * @throws UnavailableError when etcd does not answer within `timeoutMs`; AbortedError when `signal` aborts
   */
  async get(key: string, opts: KVCallOptions = {}): Promise<KVPair | null> {
    const full = checkKey(this.#ctx.keyspace, key);
    checkCallOptions(opts);
    return readWithRetry(
      this.#ctx,
      `kv: get ${JSON.stringify(key)}`,
      (a) => getStamped(this.#ctx, full, a),
      opts,
    );
  }

  /**
   * Whether the key exists (a count-only read: the value is not transferred).
   *
   * @throws UnavailableError when etcd does not answer within `timeoutMs`; AbortedError when `signal` aborts
   */
  async exists(key: string, opts: KVCallOptions = {}): Promise<boolean> {
    const full = checkKey(this.#ctx.keyspace, key);
    checkCallOptions(opts);
    const what = `kv: exists ${JSON.stringify(key)}`;
    const res = await readWithRetry(
      this.#ctx,
      what,
      (a) =>
        this.#ctx.requester.run(
          what,
          (o) => this.#ctx.client.kv.range({ key: full, count_only: true }, o),
          a,
        ),
      opts,
    );
    return BigInt(res.count) > 0n;
  }

  /**
   * Writes the key (creating or replacing it) and returns the pair written. With `ttlSeconds`, the key is
   * ephemeral: on a shared kept-alive lease of that TTL (see {@link PutOptions.ttlSeconds}). With `guard`,
   * only while the guard holds, checked by etcd in the same txn (see {@link WriteGuard}): a fenced write.
   *
   * @example
   * ```ts
   * await coord.kv.put('nodes/a', '10.0.0.1', { ttlSeconds: 5 });
   * await coord.kv.put('jobs/nightly/state', 'step-2', { guard: lock }); // only while we hold the lock
   * ```
   *
   * Failure modes (guarded): repeated while etcd is unavailable (safe under the guard); a lost attempt may
   * still apply later, only while its guard holds then — see {@link WriteGuard} and `KVPair.mayReapply`.
   *
   * @throws UnavailableError when etcd does not answer within `timeoutMs` (`mayHaveApplied`: the put may
   *   have been applied, or may be applied later; an unguarded put is not repeated once it may have been sent)
   * @throws LockLostError when a Lock/Term guard no longer holds (unlocked, resigned, lease expired or
   *   revoked): nothing was written
   * @throws KeyConflictError (a `ConflictError`) when a revision guard does not match the key's mod
   *   revision: nothing was written; `err.current` is the key now
   * @throws TypeError naming `guard` for a guard that is not a Lock, Term or bigint ≥ 0n (before any request)
   * @throws AbortedError when `signal` aborts
   */
  async put(key: string, value: KVValue, opts: PutOptions = {}): Promise<KVPair> {
    const full = checkKey(this.#ctx.keyspace, key);
    const bytes = checkValue(value, full);
    const ttl = checkTtl(opts.ttlSeconds);
    checkCallOptions(opts);
    const guard = checkGuard(opts.guard, full);
    if (guard) return guardedPut(this.#ctx, this.#leases, key, full, bytes, guard, ttl, opts);
    return putKey(this.#ctx, this.#leases, key, full, bytes, ttl, opts);
  }

  /**
   * Deletes the key; `true` when it existed. With `guard`, only while the guard holds (as {@link put}).
   *
   * @example
   * ```ts
   * await coord.kv.delete('jobs/nightly/state', { guard: lock });
   * ```
   *
   * Failure modes (guarded): as {@link put}; a repeat that finds nothing left to delete after an unanswered
   * attempt is an `UnavailableError` with `mayHaveApplied` (that attempt may have been the delete).
   *
   * @throws UnavailableError when etcd does not answer within `timeoutMs` (`mayHaveApplied`; an unguarded
   *   delete is not repeated)
   * @throws LockLostError / KeyConflictError when the guard does not hold (as {@link put}): nothing deleted
   * @throws TypeError naming `guard` for a bad guard (before any request)
   * @throws AbortedError when `signal` aborts
   */
  async delete(key: string, opts: DeleteOptions = {}): Promise<boolean> {
    const full = checkKey(this.#ctx.keyspace, key);
    checkCallOptions(opts);
    const guard = checkGuard(opts.guard, full);
    if (guard) return guardedDelete(this.#ctx, key, full, guard, opts);
    return (await deleteRange(this.#ctx, `kv: delete ${JSON.stringify(key)}`, { key: full }, opts)) > 0;
  }

  /**
   * Every key under `prefix` (`''`: the whole namespace), read page by page at one revision: a consistent
   * snapshot however many pages it takes. `[]` when there are none (libkv: `ErrKeyNotFound`).
   *
   * @throws CompactedError if the snapshot's revision is compacted between two pages (never a partial list)
   * @throws UnavailableError when etcd does not answer within `timeoutMs` (for the whole list)
   */
  async list(prefix: string, opts: KVCallOptions & { pageSize?: number } = {}): Promise<KVPair[]> {
    checkPrefix(prefix);
    checkCallOptions(opts);
    const pageSize = opts.pageSize ?? 1000;
    assertInteger(pageSize, 'pageSize', 1, 1_000_000);
    const collect = async (signal: AbortSignal) => {
      const pairs: KVPair[] = [];
      for await (const kv of new RangeQuery(this.#ctx, prefix, { signal, pageSize })) pairs.push(toPair(kv));
      return pairs;
    };
    // The pages' own retries run inside this call's deadline: `timeoutMs` bounds the whole list.
    return withRetry((_n, { signal }) => collect(signal), {
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
      retries: 0,
      what: `kv: list ${JSON.stringify(prefix)}`,
    });
  }

  /**
   * Deletes every key under `prefix` in one request; the number of keys deleted. `prefix` must be
   * non-empty (clearing a whole namespace by a missing argument is not a Store call).
   *
   * @throws UnavailableError when etcd does not answer within `timeoutMs` (`mayHaveApplied`; not repeated)
   */
  async deleteTree(prefix: string, opts: KVCallOptions = {}): Promise<number> {
    assertName(prefix, 'prefix');
    checkCallOptions(opts);
    const { key, end } = this.#ctx.keyspace.prefixRange(prefix);
    return deleteRange(this.#ctx, `kv: deleteTree ${JSON.stringify(prefix)}`, { key, end }, opts);
  }

  /**
   * Compare-and-set in one txn: writes `value` only if the key is still as `previous` (its mod revision is
   * `previous.lastIndex`), or, with `previous = null`, only if it does not exist. Returns the new pair.
   *
   * @example
   * ```ts
   * let pair = await kv.atomicPut('config/v', '1', null); // create only
   * pair = await kv.atomicPut('config/v', '2', pair);
   * ```
   *
   * Failure modes: a `previous` from `get`/`put`/`atomicPut` (or a conflict's `current`) also carries the
   * namespace's generation marker, compared in the same txn: after etcd lost its data (revisions start
   * over) it is a conflict, never an overwrite of a write at the same revision number. Pairs from
   * `list`/watches or built by hand are compared on their revision alone. A create-only put that needed a
   * repeat after an unanswered attempt returns a pair with `mayReapply: true`: that attempt may still apply
   * later, re-creating the key once it is deleted (etcd cannot cancel it; see docs/kv.md).
   *
   * @throws KeyConflictError (a `ConflictError`, code `CONFLICT`) when the key changed, was deleted, or (create
   *   only) exists, or etcd lost its data since `previous` was read; `err.current` is the key now. Nothing
   *   was written.
   * @throws UnavailableError when etcd does not answer within `timeoutMs`; repeated while it is safe (the
   *   guard makes a repeat a no-op); `mayHaveApplied` when an unanswered attempt may have been the write
   * @throws TypeError for a `previous` that is not a pair of this key (or `null`), before any request
   */
  async atomicPut(
    key: string,
    value: KVValue,
    previous: KVPair | null,
    opts: PutOptions = {},
  ): Promise<KVPair> {
    const full = checkKey(this.#ctx.keyspace, key);
    const bytes = checkValue(value, full);
    const prev = checkPrevious(previous, key, true);
    const ttl = checkTtl(opts.ttlSeconds);
    checkCallOptions(opts);
    if (opts.guard !== undefined)
      throw new TypeError(
        'Expected no `guard` for atomicPut: `previous` is its guard (use kv.put with a guard)',
      );
    return atomicPut(this.#ctx, this.#leases, key, full, bytes, prev, ttl, opts);
  }

  /**
   * Deletes the key in one txn only if it is still as `previous` (mod revision `previous.lastIndex`).
   *
   * @throws KeyConflictError (code `CONFLICT`) when the key changed or is gone, or etcd lost its data since
   *   `previous` was read (as {@link atomicPut}); `err.current` is the key now
   * @throws UnavailableError as {@link atomicPut}
   * @throws TypeError for a `previous` that is not a pair of this key, before any request
   */
  async atomicDelete(key: string, previous: KVPair, opts: KVCallOptions = {}): Promise<void> {
    const full = checkKey(this.#ctx.keyspace, key);
    const prev = checkPrevious(previous, key, false)!;
    checkCallOptions(opts);
    await atomicDelete(this.#ctx, key, full, prev, opts);
  }

  /**
   * The key's current state, then every change to it (see {@link KeyWatch}). `break` (or `return()`)
   * cancels; so do `signal` and `coord.close()`. `timeoutMs` bounds the first item only.
   *
   * @throws TypeError / InvalidArgumentError for a bad key, before any request (synchronously)
   */
  watch(key: string, opts: KVWatchOptions = {}): KeyWatch {
    checkKey(this.#ctx.keyspace, key);
    checkWatchOptions(opts);
    return new KeyWatch(this.#ctx, key, opts);
  }

  /**
   * Every key under `prefix`, then the whole prefix again after each revision that changed it, with the
   * changes (see {@link TreeWatch}). `break` cancels; `timeoutMs` bounds the first item only.
   *
   * @throws TypeError / InvalidArgumentError for a bad prefix, before any request (synchronously)
   */
  watchTree(prefix: string, opts: KVWatchOptions = {}): TreeWatch {
    checkPrefix(prefix);
    checkWatchOptions(opts);
    return new TreeWatch(this.#ctx, prefix, opts);
  }

  /**
   * Takes the {@link Mutex} named `key` (fair, fenced, lost with its lease; keys `<key>/<lease hex>`, so it
   * excludes against `etcdctl lock <key>`), whose holder key stores `value`: read it with
   * `coord.mutex(key).holder()`. With `ttlSeconds`, the lock lives on the shared lease of that TTL.
   *
   * @example
   * ```ts
   * const lock = await kv.lock('jobs/nightly', { value: 'host-a', ttlSeconds: 15, timeoutMs: 5000 });
   * try { await run(lock.signal); } finally { await lock.unlock(); }
   * ```
   *
   * @throws LockTimeoutError after `timeoutMs`; AbortedError when `signal` aborts; SessionExpiredError /
   *   LockLostError as `Mutex.lock`
   */
  async lock(key: string, opts: KVLockOptions = {}): Promise<Lock> {
    checkKey(this.#ctx.keyspace, key);
    const ttl = checkTtl(opts.ttlSeconds);
    checkCallOptions(opts);
    const what = `kv: lock ${JSON.stringify(key)}`;
    const wait = withDeadline(opts.signal, opts.timeoutMs);
    try {
      const session =
        ttl === undefined
          ? undefined
          : await raceAbort(
              this.#leases.acquire(ttl),
              wait.signal,
              what,
              undefined,
              (ms) => new LockTimeoutError(`timed out after ${ms} ms waiting for the lease of ${what}`),
            );
      const mutex = new Mutex(this.#ctx, key, {
        session,
        value: opts.value,
        lockDelayMs: opts.lockDelayMs,
      });
      return await mutex.lock({ signal: opts.signal, timeoutMs: wait.remaining() });
    } finally {
      wait.dispose();
    }
  }
}
