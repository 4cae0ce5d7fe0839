import type { CoordContext } from '../core/context.js';
import type { WaitOptions } from '../core/deadline.js';
import { isTransient, UnavailableError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { assertInteger, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';
import type { KVValue } from './kv-pair.js';
import type { WriteGuard } from './guarded.js';

/** `{ signal, timeoutMs }` of every Store call: `timeoutMs` defaults to the coordinator's `requestTimeoutMs`. */
export type KVCallOptions = WaitOptions;

/** Options of `kv.put` and `kv.atomicPut`. */
export interface PutOptions extends KVCallOptions {
  /**
   * `kv.put` only: write only while this guard holds, checked by etcd in the same txn as the put — a
   * `Lock` / election `Term` (its key still exists with create revision = its `fencingToken`), or the
   * key's expected mod revision as a `bigint` (`0n`: the key must not exist). See {@link WriteGuard}.
   * Not accepted by `atomicPut` (its `previous` is the guard).
   */
  guard?: WriteGuard | undefined;
  /**
   * Makes the key ephemeral (libkv's `WriteOptions.TTL`): it is attached to a kept-alive lease with this
   * TTL (one shared lease per distinct TTL) and disappears about `ttlSeconds` after the process dies, is
   * cut off, or closes the coordinator (which revokes the lease at once). Integer ≥ 2. Without it, the
   * key has no lease (a put without `ttlSeconds` detaches a key from its lease, as etcd's put does).
   */
  ttlSeconds?: number | undefined;
}

/** Options of `kv.delete`. */
export interface DeleteOptions extends KVCallOptions {
  /** Delete only while this guard holds (as {@link PutOptions.guard}). */
  guard?: WriteGuard | undefined;
}

/** Options of `kv.lock`. */
export interface KVLockOptions extends KVCallOptions {
  /** Stored in the holder key, readable with `coord.mutex(key).holder()` (libkv's `LockOptions.Value`). */
  value?: KVValue | undefined;
  /**
   * The lease TTL of the lock (libkv's `LockOptions.TTL`): the lock is lost about this long after the
   * process stops keeping it alive. Default: the coordinator's session TTL (its default session).
   */
  ttlSeconds?: number | undefined;
  /** Consul's lock-delay after a holder's lease expired (see `LockOptions.lockDelayMs`). Default 0. */
  lockDelayMs?: number | undefined;
}

/** Options of `kv.watch` and `kv.watchTree`. */
export interface KVWatchOptions extends KVCallOptions {
  /**
   * Items held for a consumer that falls behind; past it, the newest pending items are merged into one
   * (a tree update keeps every change, a key update keeps the latest value). Default 1024.
   */
  maxBuffered?: number | undefined;
}

/** Checks `{ signal, timeoutMs }` before any request. */
export function checkCallOptions(opts: KVCallOptions): void {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('Expected `options` to be an object');
  assertOptionalSignal(opts.signal);
  assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
}

/** Checks the options of `watch`/`watchTree` before any request. */
export function checkWatchOptions(opts: KVWatchOptions): void {
  checkCallOptions(opts);
  if (opts.maxBuffered !== undefined) assertInteger(opts.maxBuffered, 'maxBuffered', 1);
}

/** What a Store request is given: the caller's signal and its deadline (absent inside a retry's scope). */
export interface AttemptOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

/**
 * Runs `fn` once directly and, only if it fails with an error `shouldRetry` accepts, again through
 * `withRetry` for the time left. The first attempt costs no retry machinery (p-retry, a deadline scope):
 * the Store's calls are single requests, and this keeps them at the raw client's speed. Either way the
 * call settles within `timeoutMs` (default `requestTimeoutMs`) plus the documented slack.
 */
async function firstThenRetry<T>(
  ctx: CoordContext,
  what: string,
  fn: (o: AttemptOptions) => Promise<T>,
  opts: KVCallOptions,
  shouldRetry: (err: unknown) => boolean,
  retries: number,
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? ctx.requester.requestTimeoutMs;
  const t0 = performance.now();
  try {
    return await fn({ signal: opts.signal, timeoutMs });
  } catch (err) {
    const left = timeoutMs - (performance.now() - t0);
    if (!shouldRetry(err) || left <= 0 || opts.signal?.aborted) throw err;
    return withRetry(() => fn({}), { signal: opts.signal, timeoutMs: left, what, retries, shouldRetry });
  }
}

/** A read: repeated on "unavailable" within the call's deadline (reads are safe to repeat). */
export function readWithRetry<T>(
  ctx: CoordContext,
  what: string,
  fn: (o: AttemptOptions) => Promise<T>,
  opts: KVCallOptions,
): Promise<T> {
  return firstThenRetry(ctx, what, fn, opts, isTransient, 8);
}

/**
 * A write that is *not* repeated once it may have reached etcd: repeated only while each attempt provably
 * never left (no member accepted the connection), within the call's deadline. An unanswered attempt is an
 * `UnavailableError` with `mayHaveApplied`: the caller decides, because a repeated unconditional write can
 * land after another client's write and undo it, and the first attempt may still apply later.
 * `alsoRetry` adds errors that prove the attempt was refused (e.g. the lease was not found).
 */
export function writeUnlessSent<T>(
  ctx: CoordContext,
  what: string,
  fn: (o: AttemptOptions) => Promise<T>,
  opts: KVCallOptions,
  alsoRetry: (err: unknown) => boolean = () => false,
): Promise<T> {
  const retry = (err: unknown) => alsoRetry(err) || (err instanceof UnavailableError && !err.mayHaveApplied);
  return firstThenRetry(ctx, what, fn, opts, retry, 4);
}
