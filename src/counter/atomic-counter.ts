import type { CoordContext } from '../core/context.js';
import { throwIfAborted, withDeadline } from '../core/deadline.js';
import { AbortedError, InvalidArgumentError, UnavailableError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { assertInteger, assertName } from '../core/validate.js';
import { checkedAdd, toInt64 } from './int64.js';
import { checkOptions, type CounterCallOptions } from './options.js';
import { CasLoop } from './cas-loop.js';
import { CounterKey } from './counter-key.js';

/** Options of {@link AtomicCounter}. */
export interface AtomicCounterOptions {
  /** Compare-and-set races this call may lose (each retried) before it fails with `ConflictError`. Default 256. */
  maxRetries?: number;
}

/** A block of consecutive counter values, reserved by {@link AtomicCounter.reserve}. */
export interface ReservedBlock {
  /** The first value of the block. */
  first: bigint;
  /** The last value of the block (inclusive). */
  last: bigint;
}

/**
 * A counter that can move by any amount: the value is a decimal string under the key, changed by
 * compare-and-set on the key's mod revision (`If(ModRevision(key) == seen) Then(Put) Else(Get)`). A lost
 * race writes nothing and hands back the current value in the same round trip, so the retry needs no extra
 * read; retries are bounded and jittered. Without contention an update costs one request (the handle
 * remembers what it last saw), where a read-modify-write STM costs two.
 *
 * @example
 * ```ts
 * const stock = coord.atomicCounter('stock/widgets');
 * await stock.add(10);                       // 10n
 * await stock.decrement();                   // 9n
 * await stock.compareAndSet(9n, 100n);       // true
 * await stock.get();                         // 100n
 * ```
 *
 * Failure modes: a write that gets no answer fails with `UnavailableError` (`mayHaveApplied: true`) and is
 * never retried: the caller decides (read the value, or treat the update as possibly applied). Losing the
 * race more than `maxRetries` times fails with `ConflictError`, having written nothing. CAS is not fair:
 * under sustained all-out contention on one key (writers that start the next update the moment the last
 * one returns) a writer can lose many races in a row; shard hot counters over several keys. A key holding
 * something that is not a decimal integer fails with `TypeError` and is never overwritten.
 */
export class AtomicCounter {
  /** The counter key, relative to the namespace. */
  readonly name: string;
  readonly #ctx: CoordContext;
  readonly #store: CounterKey;
  /** The compare-and-set loop and what this handle last saw (cas-loop.ts). */
  readonly #cas: CasLoop;

  /** @internal use `coord.atomicCounter(name)` */
  constructor(ctx: CoordContext, name: string, opts: AtomicCounterOptions = {}) {
    assertName(name, 'name');
    const maxRetries = opts.maxRetries ?? 256;
    assertInteger(maxRetries, 'maxRetries', 0, 10_000);
    this.#ctx = ctx;
    this.name = name;
    this.#store = new CounterKey(ctx, ctx.keyspace.key(name));
    this.#cas = new CasLoop(ctx, this.#store, name, maxRetries);
  }

  /** Compare-and-set attempts this handle lost to concurrent writers so far (each one was retried or reported). */
  get conflicts(): number {
    return this.#cas.conflicts;
  }

  /**
   * Adds `delta` (may be negative) and returns the new value.
   *
   * @example
   * ```ts
   * const left = await coord.atomicCounter('quota/api').add(-3n);
   * ```
   *
   * @throws TypeError / InvalidArgumentError before any request when `delta` is not an integer (a bigint
   *   or a safe-integer number) or is outside the signed 64-bit range
   * @throws InvalidArgumentError before writing when the result would leave the signed 64-bit range, judged
   *   on the value etcd holds (the one the compare-and-set compares against), never on a stale cached one
   * @throws ConflictError after `maxRetries` lost races (nothing written)
   * @throws UnavailableError when etcd does not answer; `mayHaveApplied` tells whether a write was in flight
   * @throws UnavailableError / ConflictError (lost races) when `timeoutMs` (default: `requestTimeoutMs`)
   *   passes between attempts, nothing in flight
   * @throws AbortedError when `signal` aborts
   */
  async add(delta: bigint | number, opts: CounterCallOptions = {}): Promise<bigint> {
    const d = toInt64(delta, 'delta');
    checkOptions(opts);
    const { value } = await this.#cas.update('add', (current) => checkedAdd(current, d, 'delta'), opts);
    return value;
  }

  /** Adds `delta` (default 1). Same contract as {@link add}. */
  async increment(delta: bigint | number = 1n, opts: CounterCallOptions = {}): Promise<bigint> {
    return this.add(toInt64(delta, 'delta'), opts);
  }

  /**
   * Subtracts `delta` (default 1) and returns the new value. Same contract as {@link add}.
   *
   * @example
   * ```ts
   * const left = await coord.atomicCounter('stock/widgets').decrement(); // may go below zero
   * ```
   */
  async decrement(delta: bigint | number = 1n, opts: CounterCallOptions = {}): Promise<bigint> {
    const d = toInt64(delta, 'delta');
    if (d === -(2n ** 63n))
      throw new RangeError('Expected `delta` to be > -2^63: its negation does not fit in 64 bits');
    return this.add(-d, opts);
  }

  /**
   * Sets the value to `next` if it currently is `expected` (an absent key counts as 0n). Returns whether it
   * did. A lost race with a writer who left the value at `expected` is retried; any other value is `false`.
   *
   * @example
   * ```ts
   * if (await coord.atomicCounter('schema/version').compareAndSet(3n, 4n)) await migrate();
   * ```
   *
   * @throws TypeError / InvalidArgumentError before any request for a non-integer or out-of-range argument
   * @throws ConflictError / UnavailableError / AbortedError as {@link add}
   */
  async compareAndSet(
    expected: bigint | number,
    next: bigint | number,
    opts: CounterCallOptions = {},
  ): Promise<boolean> {
    const e = toInt64(expected, 'expected');
    const n = toInt64(next, 'next');
    checkOptions(opts);
    const { written } = await this.#cas.update(
      'compareAndSet',
      (current) => (current === e ? n : null),
      opts,
    );
    return written;
  }

  /**
   * Sets the value to `value` whatever it is now (Curator's `forceSet`): one request, no compare, never a
   * lost race.
   *
   * @example
   * ```ts
   * await coord.atomicCounter('stock/widgets').set(100n);
   * ```
   *
   * Failure modes: unconditional on purpose, so a set whose answer was lost (`mayHaveApplied`) and that
   * etcd applies later overwrites whatever was written meanwhile; use {@link compareAndSet} when that
   * matters. Never retried.
   *
   * @throws TypeError / InvalidArgumentError before any request for a non-integer or out-of-range `value`
   * @throws UnavailableError when etcd does not answer within `timeoutMs`; `mayHaveApplied` when the put was sent
   * @throws AbortedError when `signal` aborted before the put was sent
   */
  async set(value: bigint | number, opts: CounterCallOptions = {}): Promise<void> {
    const v = toInt64(value, 'value');
    checkOptions(opts);
    const what = `atomic counter "${this.name}": set`;
    throwIfAborted(opts.signal, what);
    this.#cas.seen = undefined;
    const timeoutMs = opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs;
    const deadline = withDeadline(opts.signal, timeoutMs);
    try {
      // The marker is made (once per handle) before the put, so the put's own read of it is meaningful.
      await this.#store.history.ensure(deadline.signal);
      throwIfAborted(deadline.signal, what);
      this.#cas.seen = await this.#store.put(what, v, deadline.remaining());
    } catch (err) {
      if (deadline.timedOut && err instanceof AbortedError)
        throw new UnavailableError(
          `${what}: etcd did not answer within ${timeoutMs} ms (nothing was written)`,
          {
            cause: err,
          },
        );
      throw err;
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Sets the value to `value` unless another writer changed it between this call's read and its write
   * (Curator's `trySet`): one read and one compare-and-set, never retried. Returns whether the value was
   * `value` as the call ended: written by it, or already (then nothing is written); `false` after a lost race
   * to a writer who left another value.
   *
   * @example
   * ```ts
   * if (!(await coord.atomicCounter('schema/version').trySet(4n))) console.log('someone else moved it');
   * ```
   *
   * @throws TypeError / InvalidArgumentError before any request for a non-integer or out-of-range `value`
   * @throws UnavailableError / AbortedError as {@link add} (a compare-and-set without answer: `mayHaveApplied`)
   */
  async trySet(value: bigint | number, opts: CounterCallOptions = {}): Promise<boolean> {
    const v = toInt64(value, 'value');
    checkOptions(opts);
    // Forget the cached guess: only this call's own read decides what "changed meanwhile" means.
    this.#cas.seen = undefined;
    const done = await this.#cas.update('trySet', (current) => (current === v ? null : v), opts, {
      once: true,
    });
    return done.written || done.value === v;
  }

  /**
   * Reserves `n` consecutive values in one atomic add and returns them as `{ first, last }` (inclusive):
   * nobody else is handed any of them, whichever process asks. The block to hand out ids from at high rates
   * without a request per id; {@link IdGenerator} does that for you.
   *
   * @example
   * ```ts
   * const { first, last } = await coord.atomicCounter('ids/order').reserve(1000); // e.g. 1n..1000n
   * ```
   *
   * @throws TypeError / InvalidArgumentError before any request for `n` not an integer in 1..2^53-1
   * @throws UnavailableError with `mayHaveApplied`: the block may have been taken and is then simply never
   *   handed out (values stay unique, with a gap); ConflictError / AbortedError as {@link add}
   */
  async reserve(n: number | bigint, opts: CounterCallOptions = {}): Promise<ReservedBlock> {
    const count = toInt64(n, 'n');
    if (count < 1n || count > 2n ** 53n - 1n)
      throw new InvalidArgumentError(`Expected \`n\` to be in 1..2^53-1, got ${count}`);
    checkOptions(opts);
    const { value: last } = await this.#cas.update(
      'reserve',
      (current) => checkedAdd(current, count, 'n'),
      opts,
      { refuseReset: true },
    );
    return { first: last - count + 1n, last };
  }

  /**
   * The current value (0n when the key does not exist). A linearizable read, retried on transient errors
   * within `timeoutMs`.
   *
   * @throws TypeError when the key holds something that is not a decimal integer
   * @throws UnavailableError when etcd stays unreachable through the retries or past `timeoutMs`
   */
  async get(opts: CounterCallOptions = {}): Promise<bigint> {
    checkOptions(opts);
    const what = `atomic counter "${this.name}": get`;
    // One deadline for every attempt together: `timeoutMs` bounds the call, not each request (issue 22).
    const res = await withRetry((_, attempt) => this.#store.read(what, attempt.signal, attempt.remainingMs), {
      signal: opts.signal,
      // Without `timeoutMs` the retries stop at the request timeout: every public call settles within it.
      timeoutMs: opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs,
      what,
      retries: 5,
    });
    return this.#cas.remember(res).value;
  }
}
