import type { CoordContext } from '../core/context.js';
import { raceAbort, throwIfAborted, withDeadline } from '../core/deadline.js';
import { StoreResetError } from '../core/epoch.js';
import { isTransient, UnavailableError } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { assertInteger, assertOptions } from '../core/validate.js';
import { AtomicCounter } from './atomic-counter.js';
import { checkOptions, type CounterCallOptions } from './options.js';

/** Options of {@link IdGenerator}. */
export interface IdGeneratorOptions {
  /** Values reserved per request. Default 1000. */
  blockSize?: number;
}

/**
 * Unique ids at high rates (the hi/lo pattern): reserves a block of `blockSize` values of an
 * {@link AtomicCounter} in one request and hands them out locally, so only one call in `blockSize` talks to
 * etcd. Every process using the same name gets disjoint blocks. Ids from one generator increase; across
 * processes they are unique but not ordered in time, and a block a process did not use up (it exited) is a
 * gap. Concurrent `next()` calls share one reservation in flight.
 *
 * @example
 * ```ts
 * const ids = coord.idGenerator('ids/order', { blockSize: 1000 });
 * const id = await ids.next(); // 1n, 2n, … — one etcd request per 1000 ids
 * ```
 *
 * Failure modes: after etcd lost its data (an empty-data restart) the counter starts over, so this generator
 * refuses for good (`StoreResetError`) once it notices, at its next reservation (it never repeats an id
 * itself); ids from the old history — its cached block included — may be handed out again by a generator
 * on the new history. A process started after the reset cannot tell at
 * all: keep ids unique across etcd data loss with a new name (e.g. per epoch) or `set()` past the last id.
 * A reservation that gets no answer is retried with backoff within `timeoutMs` (default:
 * the coordinator's `requestTimeoutMs`) — safe, because a retried reservation that had applied only skips a
 * block; uniqueness never depends on it. After that `next()` fails with `UnavailableError`. An id is never
 * handed out twice by one generator, nor by two generators on one name (unless the counter key is reset).
 */
export class IdGenerator {
  /** The counter key, relative to the namespace. */
  readonly name: string;
  /** Values reserved per request. */
  readonly blockSize: number;
  readonly #counter: AtomicCounter;
  readonly #ctx: CoordContext;
  #next = 0n;
  #last = -1n;
  #pending: Promise<void> | undefined;
  /** Set once etcd was seen to have lost its data: every later call throws it. */
  #failed: StoreResetError | undefined;

  /** @internal use `coord.idGenerator(name, opts)` */
  constructor(ctx: CoordContext, name: string, opts: IdGeneratorOptions = {}) {
    assertOptions(opts, 'opts');
    const blockSize = opts.blockSize ?? 1000;
    assertInteger(blockSize, 'blockSize', 1, 1_000_000_000);
    this.#ctx = ctx;
    this.#counter = new AtomicCounter(ctx, name);
    this.name = name;
    this.blockSize = blockSize;
  }

  /** Ids left in the current block (handed out without a request). */
  get remaining(): number {
    return Number(this.#last - this.#next + 1n);
  }

  /**
   * The next id. Resolves at once from the current block; otherwise after one reservation.
   *
   * @example
   * ```ts
   * const ids = coord.idGenerator('ids/job'); // keep it: each generator reserves its own blocks
   * const id = await ids.next({ timeoutMs: 2000 });
   * ```
   *
   * @throws UnavailableError when no block could be reserved within `timeoutMs`
   * @throws StoreResetError once etcd was seen to have lost its data (then on every call)
   * @throws AbortedError when `signal` aborts (a reservation in flight goes on for the other callers)
   * @throws TypeError when the counter key holds something that is not a decimal integer
   */
  async next(opts: CounterCallOptions = {}): Promise<bigint> {
    checkOptions(opts);
    const what = `id generator "${this.name}": next`;
    const ms = opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs;
    // This caller's own deadline, whoever started the reservation it waits on (breaker b-locks F3).
    const deadline = withDeadline(opts.signal, ms);
    try {
      for (;;) {
        throwIfAborted(opts.signal, what);
        if (this.#failed) throw this.#failed;
        if (this.#next <= this.#last) return this.#next++;
        // One reservation for every caller that found the block empty; each waits on it with its own
        // signal and deadline (the reservation may outlive a caller who gave up: it is not wasted).
        if (!this.#pending) {
          const p = this.#reserve(deadline.remaining()).finally(() => (this.#pending = undefined));
          p.catch(() => undefined); // every caller may have given up by the time it fails
          this.#pending = p;
        }
        try {
          await raceAbort(this.#pending, deadline.signal, what, undefined, () => {
            return new UnavailableError(`${what}: no block reserved within ${ms} ms`);
          });
        } catch (err) {
          // A reservation bound by a shorter deadline than ours failed: start another while we have time.
          if (err instanceof UnavailableError && !deadline.signal.aborted) continue;
          throw err;
        }
      }
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Drops the cached block and refuses from now on: etcd lost its data, so the counter started over and any
   * further id (cached or reserved) may repeat one handed out before.
   */
  #storeReset(err: StoreResetError): void {
    this.#failed ??= new StoreResetError(
      `id generator "${this.name}": etcd lost its data; ids handed out before could repeat, so this generator refuses (use a new name, or set() the counter past the last id)`,
      err.compactRevision,
      { cause: err },
    );
    this.#next = 0n;
    this.#last = -1n;
  }

  async #reserve(timeoutMs: number | undefined): Promise<void> {
    const what = `id generator "${this.name}": reserve`;
    try {
      const block = await withRetry(
        (_, attempt) =>
          this.#counter.reserve(this.blockSize, { timeoutMs: attempt.remainingMs, signal: attempt.signal }),
        {
          timeoutMs: timeoutMs ?? this.#ctx.requester.requestTimeoutMs,
          what,
          // A repeat that had applied only skips a block: ids stay unique.
          shouldRetry: isTransient,
        },
      );
      if (this.#failed) return;
      this.#next = block.first;
      this.#last = block.last;
    } catch (err) {
      if (err instanceof StoreResetError) this.#storeReset(err);
      throw this.#failed ?? err;
    }
  }
}
