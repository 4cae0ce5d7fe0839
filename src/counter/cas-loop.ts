import type { CoordContext } from '../core/context.js';
import { abortError, throwIfAborted, withDeadline } from '../core/deadline.js';
import { AbortedError, ConflictError, UnavailableError } from '../core/errors.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import { StoreResetError } from '../core/epoch.js';
import type { CounterKey, Read, Seen } from './counter-key.js';
import { parseStored } from './int64.js';
import type { CounterCallOptions } from './options.js';

/** `compute(value)`, or `null` when it refuses the value (an overflow): a cached value may be stale. */
function tryCompute(compute: (current: bigint) => bigint | null, value: bigint): bigint | null {
  try {
    return compute(value);
  } catch {
    return null;
  }
}

/** Whether two generation-marker reads name one history. */
function sameStamp(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

/** Lost the compare-and-set to another writer twice in a row: back off, then retry (nothing was written). */
class CasLost extends Error {}

/**
 * An {@link AtomicCounter}'s compare-and-set loop, with what the handle last saw of the key (`seen`) and how
 * many races it lost (`conflicts`).
 *
 * @example
 * ```ts
 * const loop = new CasLoop(ctx, store, 'stock', 256);
 * const { value } = await loop.update('add', (v) => v + 1n, {});
 * ```
 *
 * Failure modes: see `AtomicCounter.add` — `UnavailableError` (`mayHaveApplied` when a write was in flight
 * at the deadline), `ConflictError` after `maxRetries` lost races, `AbortedError`.
 *
 * @internal
 */
export class CasLoop {
  seen: Seen | undefined;
  conflicts = 0;
  readonly #ctx: CoordContext;
  readonly #store: CounterKey;
  readonly #name: string;
  readonly #maxRetries: number;
  /** The store history (generation marker) this handle last read; `undefined` before the first read. */
  #history: Buffer | null | undefined;
  #resetSeen = false;

  constructor(ctx: CoordContext, store: CounterKey, name: string, maxRetries: number) {
    this.#ctx = ctx;
    this.#store = store;
    this.#name = name;
    this.#maxRetries = maxRetries;
  }

  /**
   * One CAS loop: `compute` maps the current value to the next one (or `null`: nothing to write). It first
   * trusts what this handle saw last (one request when nobody else wrote); a stale guess costs nothing but
   * the failed compare, whose else-branch returns the current value for the next attempt.
   */
  async update(
    op: string,
    compute: (current: bigint) => bigint | null,
    opts: CounterCallOptions,
    flags: {
      /** Give up after one lost compare-and-set (`trySet`): `written: false`, not `ConflictError`. */
      once?: boolean;
      /**
       * Throw `StoreResetError` (nothing written) when etcd turns out to hold another history than the one
       * this handle saw: a `reserve()` on a store that lost its data would hand out values again.
       */
      refuseReset?: boolean;
    } = {},
  ): Promise<{ value: bigint; written: boolean }> {
    const once = flags.once === true;
    const what = `atomic counter "${this.#name}": ${op}`;
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
        let seen = this.seen;
        let next = seen ? (fresh ? compute(seen.value) : tryCompute(compute, seen.value)) : null;
        if (!seen || next === null) {
          // Unknown, or a cached value that says "nothing to do" or "overflows": only a fresh read may
          // decide that (issue 16: a stale cached value refused a valid add).
          seen = this.remember(await this.#store.read(what, deadline.signal, deadline.remaining()));
          this.#checkReset(what, flags.refuseReset === true);
          fresh = true;
          next = compute(seen.value);
          if (next === null) return { value: seen.value, written: false };
        }
        if (deadline.signal.aborted) throw abortError(deadline.signal, what);
        casInFlight = true;
        const res = await this.#store.cas(what, seen, next, deadline.remaining());
        casInFlight = false;
        if (res.succeeded) {
          this.seen = { value: next, modRevision: headerRevision(res.header), stamp: seen.stamp };
          return { value: next, written: true };
        }
        this.conflicts++;
        const current = res.responses[0]?.response_range;
        if (current) this.remember({ kv: current.kvs[0], stamp: this.#store.history.stampIn(res, 1) });
        else this.seen = undefined;
        this.#checkReset(what, flags.refuseReset === true);
        fresh = current !== undefined;
        if (once) return { value: this.seen?.value ?? 0n, written: false };
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
      this.seen = undefined;
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

  /** A history other than the last one seen was met (see {@link remember}); `refuse`: throw for it. */
  #checkReset(what: string, refuse: boolean): void {
    if (!this.#resetSeen) return;
    this.#resetSeen = false;
    if (refuse)
      throw new StoreResetError(
        `${what}: etcd lost its data (another history than this handle saw); values would repeat`,
        0n,
      );
  }

  remember(res: Read): Seen {
    // The history is remembered apart from `seen` (which an error forgets), so a reset is noticed even on
    // the first read after etcd came back.
    if (res.stamp !== undefined) {
      const before = this.#history;
      if (before !== undefined && !sameStamp(before, res.stamp)) this.#resetSeen = true;
      this.#history = res.stamp;
    }
    const kv = res.kv;
    const seen: Seen = kv
      ? {
          value: parseStored(kv.value, this.#name),
          modRevision: BigInt(kv.mod_revision || 0),
          stamp: res.stamp,
        }
      : { value: 0n, modRevision: 0n, stamp: res.stamp };
    this.seen = seen;
    return seen;
  }
}
