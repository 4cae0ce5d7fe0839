import type { IKeyValue, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { abortError, throwIfAborted, withDeadline } from '../core/deadline.js';
import { AbortedError, ConflictError, UnavailableError } from '../core/errors.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import { assertInteger, assertName } from '../core/validate.js';
import { checkedAdd, parseStored, toInt64 } from './int64.js';
import { checkOptions, type CounterCallOptions } from './options.js';
import { HistoryGuard } from './history-guard.js';

/** Options of {@link AtomicCounter}. */
export interface AtomicCounterOptions {
  /** Compare-and-set races this call may lose (each retried) before it fails with `ConflictError`. Default 256. */
  maxRetries?: number;
}

/** What this handle last saw of the key: the value and the revision that wrote it (0n: absent). */
interface Seen {
  value: bigint;
  modRevision: bigint;
  /** The store history it was read in (history-guard.ts). */
  stamp: Buffer | null | undefined;
}

/** The key and the generation marker, read in one txn. */
interface Read {
  kv: IKeyValue | undefined;
  stamp: Buffer | null | undefined;
}

/** `compute(value)`, or `null` when it refuses the value (an overflow): a cached value may be stale. */
function tryCompute(compute: (current: bigint) => bigint | null, value: bigint): bigint | null {
  try {
    return compute(value);
  } catch {
    return null;
  }
}

/** Lost the compare-and-set to another writer twice in a row: back off, then retry (nothing was written). */
class CasLost extends Error {}

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
  readonly #key: Buffer;
  readonly #maxRetries: number;
  #seen: Seen | undefined;
  #conflicts = 0;
  readonly #history: HistoryGuard;

  /** @internal use `coord.atomicCounter(name)` */
  constructor(ctx: CoordContext, name: string, opts: AtomicCounterOptions = {}) {
    assertName(name, 'name');
    const maxRetries = opts.maxRetries ?? 256;
    assertInteger(maxRetries, 'maxRetries', 0, 10_000);
    this.#ctx = ctx;
    this.name = name;
    this.#key = ctx.keyspace.key(name);
    this.#maxRetries = maxRetries;
    this.#history = new HistoryGuard(ctx);
  }

  /** Compare-and-set attempts this handle lost to concurrent writers so far (each one was retried or reported). */
  get conflicts(): number {
    return this.#conflicts;
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
    const { value } = await this.#update('add', (current) => checkedAdd(current, d, 'delta'), opts);
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
    const { written } = await this.#update('compareAndSet', (current) => (current === e ? n : null), opts);
    return written;
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
    const res = await withRetry((_, attempt) => this.#read(what, attempt.signal, attempt.remainingMs), {
      signal: opts.signal,
      // Without `timeoutMs` the retries stop at the request timeout: every public call settles within it.
      timeoutMs: opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs,
      what,
      retries: 5,
    });
    return this.#remember(res).value;
  }

  /**
   * One CAS loop: `compute` maps the current value to the next one (or `null`: nothing to write). It first
   * trusts what this handle saw last (one request when nobody else wrote); a stale guess costs nothing but
   * the failed compare, whose else-branch returns the current value for the next attempt.
   */
  async #update(
    op: string,
    compute: (current: bigint) => bigint | null,
    opts: CounterCallOptions,
  ): Promise<{ value: bigint; written: boolean }> {
    const what = `atomic counter "${this.name}": ${op}`;
    throwIfAborted(opts.signal, what);
    // Without `timeoutMs` the call is bound by the request timeout, as every public call is.
    const timeoutMs = opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs;
    const deadline = withDeadline(opts.signal, timeoutMs);
    let lost = 0;
    let casInFlight = false;
    const attempt = async (): Promise<{ value: bigint; written: boolean }> => {
      // `fresh`: `seen` came from etcd during this call (a read, or a failed compare's else-branch), so it
      // is the value the next compare-and-set compares against and may decide a refusal.
      let fresh = false;
      for (;;) {
        let seen = this.#seen;
        let next = seen ? (fresh ? compute(seen.value) : tryCompute(compute, seen.value)) : null;
        if (!seen || next === null) {
          // Unknown, or a cached value that says "nothing to do" or "overflows": only a fresh read may
          // decide that (issue 16: a stale cached value refused a valid add).
          seen = this.#remember(await this.#read(what, deadline.signal, deadline.remaining()));
          fresh = true;
          next = compute(seen.value);
          if (next === null) return { value: seen.value, written: false };
        }
        if (deadline.signal.aborted) throw abortError(deadline.signal, what);
        casInFlight = true;
        const res = await this.#cas(what, seen, next, deadline.remaining());
        casInFlight = false;
        if (res.succeeded) {
          this.#seen = { value: next, modRevision: headerRevision(res.header), stamp: seen.stamp };
          return { value: next, written: true };
        }
        this.#conflicts++;
        const current = res.responses[0]?.response_range;
        if (current) this.#remember({ kv: current.kvs[0], stamp: this.#history.stampIn(res, 1) });
        else this.#seen = undefined;
        fresh = current !== undefined;
        if (++lost > this.#maxRetries) {
          throw new ConflictError(`${what}: lost the compare-and-set to concurrent writers ${lost} times`);
        }
        // The failed compare handed back the current value: the first retry after a back-off goes at once,
        // on equal terms with the writer who just won (who never waits). Backing off before every retry
        // lets a busy winner capture the key and starve everyone else.
        if (lost % 2 === 0) throw new CasLost();
      }
    };
    try {
      return await withRetry(attempt, {
        signal: deadline.signal,
        what,
        retries: this.#maxRetries,
        minTimeoutMs: 2,
        maxTimeoutMs: 50,
        shouldRetry: (err) => err instanceof CasLost,
      });
    } catch (err) {
      this.#seen = undefined;
      if (casInFlight && deadline.timedOut && !opts.signal?.aborted) {
        // The deadline passed with the write in flight: its outcome is unknown, and must be reported so.
        throw new UnavailableError(
          `${what}: no answer within ${timeoutMs} ms (the write may have been applied)`,
          { cause: err, mayHaveApplied: true },
        );
      }
      if (err instanceof CasLost)
        throw new ConflictError(`${what}: lost the compare-and-set to concurrent writers ${lost} times`);
      if (deadline.timedOut && !opts.signal?.aborted && err instanceof AbortedError) {
        // The deadline passed between attempts (nothing in flight): say why, as a deadline and not an abort
        // the caller never asked for (the default deadline applies without `timeoutMs`).
        if (lost > 0)
          throw new ConflictError(
            `${what}: lost the compare-and-set to concurrent writers ${lost} times within ${timeoutMs} ms`,
            { cause: err },
          );
        throw new UnavailableError(
          `${what}: etcd did not answer within ${timeoutMs} ms (nothing was written)`,
          {
            cause: err,
          },
        );
      }
      throw err;
    } finally {
      deadline.dispose();
    }
  }

  /** The compare-and-set: no signal on purpose, so an in-flight write is always answered or times out as "may have applied". */
  #cas(what: string, seen: Seen, next: bigint, timeoutMs: number | undefined): Promise<ITxnResponse> {
    return this.#ctx.requester.run(
      what,
      (o) =>
        this.#ctx.client.kv.txn(
          {
            // An absent key compares as mod revision 0.
            // …and the store is the history `seen` was read in (history-guard.ts).
            compare: [
              { key: this.#key, target: 'Mod', result: 'Equal', mod_revision: seen.modRevision.toString() },
              ...this.#history.compare(seen.stamp),
            ],
            success: [{ request_put: { key: this.#key, value: Buffer.from(next.toString()) } }],
            failure: [{ request_range: { key: this.#key } }, ...this.#history.readOp()],
          },
          o,
        ),
      { write: true, timeoutMs },
    );
  }

  /** The key and the marker in one txn (the marker created first if this handle has not seen it). */
  async #read(what: string, signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<Read> {
    await this.#history.ensure(signal);
    const res = await this.#ctx.requester.run(
      what,
      (o) =>
        this.#ctx.client.kv.txn(
          { compare: [], success: [{ request_range: { key: this.#key } }, ...this.#history.readOp()] },
          o,
        ),
      { signal, timeoutMs },
    );
    return { kv: res.responses[0]?.response_range?.kvs[0], stamp: this.#history.stampIn(res, 1) };
  }

  #remember(res: Read): Seen {
    const kv = res.kv;
    const seen: Seen = kv
      ? {
          value: parseStored(kv.value, this.name),
          modRevision: BigInt(kv.mod_revision || 0),
          stamp: res.stamp,
        }
      : { value: 0n, modRevision: 0n, stamp: res.stamp };
    this.#seen = seen;
    return seen;
  }
}
