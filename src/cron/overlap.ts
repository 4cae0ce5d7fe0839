import type { CoordContext } from '../core/context.js';
import { withDeadline } from '../core/deadline.js';
import { AbortedError, LockTimeoutError } from '../core/errors.js';
import { SlotSkipped } from '../election/once-record.js';
import type { Lock } from '../lock/lock.js';
import { Mutex } from '../lock/mutex.js';

/** How long after a slot's start a previous run still going counts as an overlap (skip / cancel-previous). */
export const OVERLAP_TOLERANCE_MS = 2_000;

/** What a slot does while the job's previous run (on any host) still runs. */
export type OverlapPolicy = 'skip' | 'wait' | 'cancel-previous';

/**
 * Runs `run` under the job's overlap lock, a mutex `cron/<job>` held for the length of each run on any host,
 * as `policy` says: `skip` records the slot `skipped` when the lock is still held after `toleranceMs`; `wait`
 * queues for it (FIFO: slots
 * run in order); `cancel-previous` asks the holder to release (its run's signal aborts, Curator's Revoker),
 * then queues. The lock is under the runner's session lease, so a crashed run's lock goes with its lease.
 *
 * @example
 * ```ts
 * await withOverlapPolicy(ctx, 'nightly', 'skip', signal, (s) => job(s));
 * ```
 *
 * Failure modes: throws {@link SlotSkipped} (skip, lock held); what the lock throws (`AbortedError` when
 * `signal` aborts while waiting; `SessionExpiredError`); what `run` throws. The run's signal aborts when the
 * lock is lost or a newer slot cancels it (`AbortedError` "cancelled by a newer slot").
 */
export async function withOverlapPolicy<T>(
  ctx: CoordContext,
  job: string,
  policy: OverlapPolicy,
  signal: AbortSignal,
  run: (signal: AbortSignal) => Promise<T>,
  ttlSeconds?: number,
  toleranceMs = OVERLAP_TOLERANCE_MS,
): Promise<T> {
  // A lease of its own per run: every run's waiter is then a key in etcd, queued FIFO by create revision
  // with every other host's, instead of some waiting in this process's local queue (slots of one host
  // would then overtake another host's older slot under `wait`). It goes with the run (finally below).
  const session = await ctx.newSession({ ttlSeconds: ttlSeconds ?? ctx.ttlSeconds, signal });
  try {
    return await underLock(
      new Mutex(ctx, `cron/${job}`, { revocable: true, session }),
      job,
      policy,
      signal,
      run,
      toleranceMs,
    );
  } finally {
    await session.close().catch(() => undefined);
  }
}

async function underLock<T>(
  mutex: Mutex,
  job: string,
  policy: OverlapPolicy,
  signal: AbortSignal,
  run: (signal: AbortSignal) => Promise<T>,
  toleranceMs: number,
): Promise<T> {
  let lock: Lock | null;
  if (policy === 'wait') lock = await mutex.lock({ signal });
  else if (policy === 'cancel-previous') {
    lock = await mutex.tryLock();
    if (!lock) {
      // Cancel at once: the running job's signal aborts (Curator's Revoker); it unlocks when it returns.
      await mutex.requestRelease({ signal });
      lock = await mutex.lock({ signal });
    }
  } else {
    // A previous run that ends within the tolerance is not an overlap: the slot machinery's own requests,
    // and hosts whose clocks disagree by a second, would otherwise make back-to-back short runs skip.
    lock = await mutex.lock({ signal, timeoutMs: toleranceMs }).catch((err: unknown) => {
      if (err instanceof LockTimeoutError) return null;
      throw err;
    });
    if (!lock) throw new SlotSkipped(`overlap: the previous run of "${job}" is still going`);
  }
  const held = lock;
  const cancel = new AbortController();
  const onRevoke = () => cancel.abort(new AbortedError(`cron "${job}": cancelled by a newer slot`));
  held.on('revokeRequested', onRevoke);
  if (held.revokeRequested) onRevoke();
  const scope = withDeadline(signal, undefined, held.signal, cancel.signal);
  try {
    return await run(scope.signal);
  } finally {
    scope.dispose();
    held.off('revokeRequested', onRevoke);
    await held.unlock().catch(() => undefined);
  }
}
