import type { CoordContext } from '../core/context.js';
import { isTransient } from '../core/errors.js';
import { deleteGuarded, type DeleteGuard } from '../core/guarded-delete.js';
import { Release } from '../core/release.js';

/**
 * Which key a withdrawal may delete: the one with this create revision, or (a put of unknown outcome) the
 * one found attached to this lease, deleted by the create revision read (see `core/guarded-delete.ts`).
 */
export type WithdrawGuard = DeleteGuard;

/**
 * @internal A candidate key of ours to delete, retried in the background while `alive` (its session's
 * signal) lives: a candidate key left under a live session would queue, then lead, with nobody behind it,
 * and block the election for as long as the process runs (issue 15). Every delete is guarded by the key's
 * create revision (for a put of unknown outcome: the one read just before), so repeating it after an
 * unknown outcome, or an attempt landing late, never deletes the key the next campaign on this session and
 * name creates; a failed guard means the key is gone already, which is what a withdrawal wants.
 *
 * @example
 * ```ts
 * const w = withdrawal(ctx, 'svc', key, { createRevision: rev }, session.signal);
 * await w.run({ timeoutMs: ctx.requester.requestTimeoutMs }).catch(() => undefined); // goes on by itself
 * ```
 *
 * Failure modes: etcd unreachable → `run()` rejects, the loop keeps retrying every ≤ 1 s until it
 * succeeds or the session ends (then the lease takes the key).
 */
export function withdrawal(
  ctx: CoordContext,
  name: string,
  key: Buffer,
  guard: WithdrawGuard,
  alive: AbortSignal,
): Release {
  const what = `election "${name}": withdraw`;
  return new Release({
    what,
    alive,
    attempt: async (signal) => {
      await deleteGuarded(ctx, what, key, guard, { signal });
    },
  });
}

/**
 * @internal Resolves (never rejects) once `release` is confirmed, has failed for good (a non-transient
 * error), or `alive` has aborted (the lease takes the key): the moment the next in-process caller on the
 * same key may go ahead.
 *
 * @example
 * ```ts
 * void settled(release, session.signal).then(releaseLocalTurn);
 * ```
 *
 * Failure modes: none; it only waits.
 */
export async function settled(release: Release, alive: AbortSignal): Promise<void> {
  while (!release.done && !alive.aborted) {
    try {
      await release.run();
    } catch (err) {
      if (!isTransient(err)) return;
    }
  }
}
