import pRetry from 'p-retry';
import { isTransient } from './errors.js';
import { abortError } from './deadline.js';

/** How a recipe retries a request that is safe to repeat. */
export interface RetryOptions {
  signal?: AbortSignal | undefined;
  /** Attempts after the first. Default 8. */
  retries?: number;
  /** First back-off in ms (jittered, doubling). Default 50. */
  minTimeoutMs?: number;
  /** Largest back-off in ms. Default 2000. */
  maxTimeoutMs?: number;
  /** Which errors to retry. Default: {@link isTransient} (etcd unavailable, no write of unknown outcome). */
  shouldRetry?: (err: unknown) => boolean;
  /** Names the operation in the error when the signal aborts. */
  what?: string;
}

/**
 * Runs `fn` until it succeeds, with bounded, jittered exponential back-off that stops at once when `signal`
 * aborts. Only for operations that are safe to repeat: reads, and writes guarded so a repeat is a no-op.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const shouldRetry = opts.shouldRetry ?? isTransient;
  const signal = opts.signal;
  try {
    return await pRetry(fn, {
      retries: opts.retries ?? 8,
      minTimeout: opts.minTimeoutMs ?? 50,
      maxTimeout: opts.maxTimeoutMs ?? 2000,
      factor: 2,
      randomize: true,
      ...(signal ? { signal } : {}),
      shouldRetry: ({ error }) => shouldRetry(error),
    });
  } catch (err) {
    if (signal?.aborted && err === signal.reason) throw abortError(signal, opts.what ?? 'operation');
    throw err;
  }
}
