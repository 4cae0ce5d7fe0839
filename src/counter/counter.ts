import type { CoordContext } from '../core/context.js';
import { throwIfAborted } from '../core/deadline.js';
import { withRetry } from '../core/retry.js';
import { assertName } from '../core/validate.js';
import { checkOptions, type CounterCallOptions } from './options.js';

const EMPTY = Buffer.alloc(0);

/**
 * A version-based counter (the classic etcd trick): every {@link increment} is ONE put that asks for the
 * previous key-value back; the new value is the key's version after the put. etcd serialises puts to a key,
 * so the values handed out are unique and gap-free under any contention, with no read, no compare and no
 * retry. The key's value is empty; the counter *is* its version (`etcdctl get -w json` shows it).
 *
 * Limits (why {@link AtomicCounter} exists): the step is always 1, there is no decrement, and
 * {@link reset} deletes the key, after which the version (and the counter) starts again at 1.
 *
 * @example
 * ```ts
 * const ids = coord.counter('ids/order');
 * const id = await ids.increment();   // 1n, 2n, 3n… across every process using the name
 * await ids.get();                     // the last value handed out (0n before the first increment)
 * ```
 *
 * Failure modes: an increment that gets no answer (connection lost after sending, deadline passed) fails
 * with `UnavailableError` whose `mayHaveApplied` is true; it is never retried, because a retry could count
 * twice. If it did apply, its value was consumed without being reported: the values handed out stay unique,
 * but that one is missing from what callers saw. `get()` is retried on transient errors (a read is safe).
 */
export class Counter {
  /** The counter key, relative to the namespace. */
  readonly name: string;
  readonly #ctx: CoordContext;
  readonly #key: Buffer;

  /** @internal use `coord.counter(name)` */
  constructor(ctx: CoordContext, name: string) {
    assertName(name, 'name');
    this.#ctx = ctx;
    this.name = name;
    this.#key = ctx.keyspace.key(name);
  }

  /**
   * Adds one and returns the new value (1n for the first increment, or the first after a reset).
   *
   * @example
   * ```ts
   * const orderId = await coord.counter('ids/order').increment();
   * ```
   *
   * @throws UnavailableError when etcd does not answer in time; `mayHaveApplied` is true (never retried)
   * @throws AbortedError when `signal` was aborted before the request was sent
   */
  async increment(opts: CounterCallOptions = {}): Promise<bigint> {
    const what = `counter "${this.name}": increment`;
    checkOptions(opts);
    throwIfAborted(opts.signal, what);
    // No signal on the request: an abort mid-flight would hide whether the put applied.
    const res = await this.#ctx.requester.run(
      what,
      (o) => this.#ctx.client.kv.put({ key: this.#key, value: EMPTY, prev_kv: true }, o),
      { write: true, timeoutMs: opts.timeoutMs },
    );
    const previous = res.prev_kv ? BigInt(res.prev_kv.version || 0) : 0n;
    return previous + 1n;
  }

  /**
   * The current value: the last one handed out, or 0n if the counter does not exist (never incremented, or
   * reset since). A linearizable read, retried on transient errors within `timeoutMs`.
   *
   * @throws UnavailableError when etcd stays unreachable through the retries or past `timeoutMs`
   * @throws AbortedError when `signal` aborts
   */
  async get(opts: CounterCallOptions = {}): Promise<bigint> {
    const what = `counter "${this.name}": get`;
    checkOptions(opts);
    // One deadline for every attempt together: `timeoutMs` bounds the call, not each request (issue 22).
    const res = await withRetry(
      (_, attempt) =>
        this.#ctx.requester.run(
          what,
          (o) => this.#ctx.client.kv.range({ key: this.#key, keys_only: true }, o),
          { signal: attempt.signal, timeoutMs: attempt.remainingMs },
        ),
      // Without `timeoutMs` the retries stop at the request timeout: every public call settles within it.
      {
        signal: opts.signal,
        timeoutMs: opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs,
        what,
        retries: 5,
      },
    );
    const kv = res.kvs[0];
    return kv ? BigInt(kv.version || 0) : 0n;
  }

  /**
   * Deletes the counter's key: the next {@link increment} returns 1n again. Returns the value it had.
   * Values handed out before the reset are handed out again after it: do not reset a counter used for ids.
   *
   * @throws UnavailableError when etcd does not answer in time; `mayHaveApplied` is true. Not retried: a
   *   repeated delete could wipe increments made after the first one applied.
   */
  async reset(opts: CounterCallOptions = {}): Promise<bigint> {
    const what = `counter "${this.name}": reset`;
    checkOptions(opts);
    throwIfAborted(opts.signal, what);
    const res = await this.#ctx.requester.run(
      what,
      (o) => this.#ctx.client.kv.deleteRange({ key: this.#key, prev_kv: true }, o),
      { write: true, timeoutMs: opts.timeoutMs },
    );
    const prev = res.prev_kvs[0];
    return prev ? BigInt(prev.version || 0) : 0n;
  }
}
