import type { CoordContext } from '../core/context.js';
import type { WaitOptions } from '../core/deadline.js';
import { withDeadline } from '../core/deadline.js';
import { AbortedError, LockTimeoutError, UnavailableError } from '../core/errors.js';

/**
 * Runs a whole blocking lock call — session acquisition, the in-process turn, enqueue and wait — under
 * one deadline, so `timeoutMs` counts from the call, not from when the call's in-process turn came
 * (issue 25). `fn` gets the combined signal; a timeout anywhere becomes `LockTimeoutError`, also one the
 * session's grant reports as `UnavailableError` (etcd unreachable while the session is renewed).
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
    // A step that is not the queue reports the timeout its own way: the local turn as an abort, the
    // session's grant as UNAVAILABLE ("did not grant a lease within …"). Either is this call's timeout.
    const stepTimeout = err instanceof AbortedError || err instanceof UnavailableError;
    if (deadline.timedOut && !opts.signal?.aborted && stepTimeout) {
      throw new LockTimeoutError(`timed out after ${opts.timeoutMs} ms waiting for ${what}`, { cause: err });
    }
    throw err;
  } finally {
    deadline.dispose();
  }
}

/**
 * Runs a whole try call — session acquisition, the in-process check, enqueue — under one deadline of the
 * coordinator's `requestTimeoutMs`, counted from the call: a lost session's renewal and the try do not each
 * get a full request deadline. `fn` gets the deadline's signal; hand it to `currentSession` and to
 * `tryAcquire`.
 *
 * @example
 * ```ts
 * return withTryDeadline(ctx, async (signal) => {
 *   const session = await ctx.currentSession({ signal });
 *   return tryAcquire(ctx, spec, key, session, { signal });
 * });
 * ```
 *
 * @throws whatever `fn` throws: UnavailableError when the deadline passes (the session's grant and
 *   `tryAcquire` report it so)
 *
 * Failure modes: the removal of a refused key may run up to a second past the deadline (it is bounded on
 * its own), as `tryAcquire` documents.
 */
export async function withTryDeadline<T>(
  ctx: CoordContext,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadline = withDeadline(undefined, ctx.requester.requestTimeoutMs, ctx.closedSignal);
  try {
    return await fn(deadline.signal);
  } finally {
    deadline.dispose();
  }
}
