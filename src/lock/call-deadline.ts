import type { WaitOptions } from '../core/deadline.js';
import { withDeadline } from '../core/deadline.js';
import { AbortedError, LockTimeoutError } from '../core/errors.js';

/**
 * Runs a whole blocking lock call — session acquisition, the in-process turn, enqueue and wait — under
 * one deadline, so `timeoutMs` counts from the call, not from when the call's in-process turn came
 * (issue 25). `fn` gets the combined signal; a timeout anywhere becomes `LockTimeoutError`.
 *
 * @example
 * ```ts
 * return withCallDeadline(opts, 'mutex "a"', async (signal) => {
 *   const session = await ctx.currentSession({ signal });
 *   return acquire(ctx, spec, key, session, { signal });
 * });
 * ```
 *
 * @throws LockTimeoutError when `timeoutMs` passes first; whatever `fn` throws otherwise
 *
 * Failure modes: a step that ignores `signal` delays the rejection by as long as it runs; every step of
 * the lock recipes takes it.
 */
export async function withCallDeadline<T>(
  opts: WaitOptions,
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadline = withDeadline(opts.signal, opts.timeoutMs);
  try {
    return await fn(deadline.signal);
  } catch (err) {
    // A step that is not the queue (the session's grant, the local turn) reports the timeout as an abort.
    if (deadline.timedOut && !opts.signal?.aborted && err instanceof AbortedError) {
      throw new LockTimeoutError(`timed out after ${opts.timeoutMs} ms waiting for ${what}`, { cause: err });
    }
    throw err;
  } finally {
    deadline.dispose();
  }
}
