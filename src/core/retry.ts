import pRetry from 'p-retry';
import { isTransient, UnavailableError } from './errors.js';
import { currentScope, inScope, scopeRemaining } from './call-scope.js';
import { abortError, withDeadline } from './deadline.js';

/** How a recipe retries a request that is safe to repeat. */
export interface RetryOptions {
  signal?: AbortSignal | undefined;
  /**
   * Overall deadline for every attempt together. When it passes the call rejects with the last
   * `UnavailableError` (or a new one), never with an abort: "etcd did not answer in time".
   */
  timeoutMs?: number | undefined;
  /** Attempts after the first. Default 8. */
  retries?: number;
  /** First back-off in ms (jittered, doubling). Default 50. */
  minTimeoutMs?: number;
  /** Largest back-off in ms. Default 2000. */
  maxTimeoutMs?: number;
  /** Which errors to retry. Default: {@link isTransient} (etcd unavailable; the operation must be safe to repeat). */
  shouldRetry?: (err: unknown) => boolean;
  /** Names the operation in errors. */
  what?: string;
}

/** What each attempt is told. */
export interface Attempt {
  /** Aborted by the caller's signal or the overall deadline: pass it to requests. */
  signal: AbortSignal;
  /** Milliseconds left before the overall deadline (`undefined` without one): use as the request timeout. */
  remainingMs: number | undefined;
}

/**
 * How long an attempt cut short by the deadline gets to settle by itself (its requests stop at the same
 * moment, and report precisely whether a write may have applied) before it is abandoned: part of the
 * documented slack of every `timeoutMs`.
 */
export const ATTEMPT_GRACE_MS = 100;

/**
 * Settles like `attempt`, but at most {@link ATTEMPT_GRACE_MS} after `signal` aborts: an attempt that
 * ignores its signal cannot stretch the call past its deadline.
 */
function bounded<T>(attempt: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return attempt;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      timer = setTimeout(() => reject(signal.reason as Error), ATTEMPT_GRACE_MS);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      signal.removeEventListener('abort', onAbort);
      if (timer) clearTimeout(timer);
    };
    attempt.then(
      (v) => {
        done();
        resolve(v);
      },
      (err: unknown) => {
        done();
        reject(err as Error);
      },
    );
  });
}

/**
 * Runs `fn` until it succeeds, with bounded, jittered exponential back-off that stops at once when `signal`
 * aborts or `timeoutMs` passes. Only for operations that are safe to repeat: reads, and writes guarded so
 * a repeat is a no-op.
 *
 * The deadline bounds the whole call, not just the back-off: every request made through `Requester.run`
 * inside an attempt is capped at the time left and stops when it passes (see `call-scope.ts`), and an
 * attempt that does not stop is abandoned {@link ATTEMPT_GRACE_MS} later. Inside another call's deadline
 * (a nested `withRetry`), the earlier of the two applies.
 *
 * @example
 * ```ts
 * const res = await withRetry(() => ctx.requester.run('get', (o) => ctx.client.kv.range(req, o)), {
 *   signal, timeoutMs, what: 'config: get',
 * });
 * ```
 *
 * @throws UnavailableError when the deadline passes (the last attempt's error if it was one, so a write
 *   cut short keeps its `mayHaveApplied`), or the last error when retries run out or `shouldRetry` refuses
 * @throws AbortedError (or the signal's `CoordError` reason) when `signal` aborts
 *
 * Failure modes: the caller's `signal` aborting is never turned into "unavailable"; a deadline is.
 */
export async function withRetry<T>(
  fn: (attempt: number, ctx: Attempt) => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const shouldRetry = opts.shouldRetry ?? isTransient;
  const what = opts.what ?? 'operation';
  const outer = currentScope();
  const outerLeft = scopeRemaining(outer);
  const timeoutMs =
    opts.timeoutMs === undefined ? outerLeft : Math.min(opts.timeoutMs, outerLeft ?? Infinity);
  const deadline = withDeadline(opts.signal, timeoutMs, outer?.signal);
  let last: unknown;
  try {
    return await pRetry(
      (attempt) => {
        const scope = { signal: deadline.signal, expiresAt: deadline.expiresAt, active: true };
        const run = inScope(scope, () =>
          fn(attempt, { signal: deadline.signal, remainingMs: deadline.remaining() }),
        );
        return bounded(run, deadline.signal).catch((err: unknown) => {
          last = err;
          throw err;
        });
      },
      {
        retries: opts.retries ?? 8,
        minTimeout: opts.minTimeoutMs ?? 50,
        maxTimeout: opts.maxTimeoutMs ?? 2000,
        factor: 2,
        randomize: true,
        signal: deadline.signal,
        shouldRetry: ({ error }) => !deadline.signal.aborted && shouldRetry(error),
      },
    );
  } catch (err) {
    if (deadline.timedOut && !opts.signal?.aborted) {
      if (last instanceof UnavailableError) throw last;
      throw new UnavailableError(`${what}: etcd did not answer within ${timeoutMs} ms`, {
        cause: last ?? err,
      });
    }
    if (deadline.signal.aborted) throw abortError(deadline.signal, what);
    throw err;
  } finally {
    deadline.dispose();
  }
}
