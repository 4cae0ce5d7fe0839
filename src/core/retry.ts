import pRetry from 'p-retry';
import { isTransient, UnavailableError } from './errors.js';
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
 * Runs `fn` until it succeeds, with bounded, jittered exponential back-off that stops at once when `signal`
 * aborts or `timeoutMs` passes. Only for operations that are safe to repeat: reads, and writes guarded so
 * a repeat is a no-op.
 */
export async function withRetry<T>(
  fn: (attempt: number, ctx: Attempt) => Promise<T>,
  opts: RetryOptions = {},
): Promise<T> {
  const shouldRetry = opts.shouldRetry ?? isTransient;
  const what = opts.what ?? 'operation';
  const deadline = withDeadline(opts.signal, opts.timeoutMs);
  let last: unknown;
  try {
    return await pRetry(
      (attempt) =>
        fn(attempt, { signal: deadline.signal, remainingMs: deadline.remaining() }).catch((err: unknown) => {
          last = err;
          throw err;
        }),
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
      throw new UnavailableError(`${what}: etcd did not answer within ${opts.timeoutMs} ms`, {
        cause: last ?? err,
      });
    }
    if (deadline.signal.aborted) throw abortError(deadline.signal, what);
    throw err;
  } finally {
    deadline.dispose();
  }
}
