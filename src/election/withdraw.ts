import type { CoordContext } from '../core/context.js';
import { isTransient } from '../core/errors.js';
import { Release } from '../core/release.js';

/** Which key a withdrawal may delete: the one with this create revision, or any attached to this lease. */
export type WithdrawGuard = { createRevision: bigint } | { leaseId: bigint };

/**
 * @internal A candidate key of ours to delete, retried in the background while `alive` (its session's
 * signal) lives: a candidate key left under a live session would queue, then lead, with nobody behind it,
 * and block the election for as long as the process runs (issue 15). The delete is guarded (create
 * revision, or the lease the key name carries), so repeating it after an unknown outcome is harmless; a
 * failed guard means the key is gone already, which is what a withdrawal wants.
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
  const compare =
    'createRevision' in guard
      ? {
          key,
          target: 'Create' as const,
          result: 'Equal' as const,
          create_revision: guard.createRevision.toString(),
        }
      : { key, target: 'Lease' as const, result: 'Equal' as const, lease: guard.leaseId.toString() };
  return new Release({
    what,
    alive,
    attempt: async (signal) => {
      await ctx.requester.run(
        what,
        (o) =>
          ctx.client.kv.txn(
            { compare: [compare], success: [{ request_delete_range: { key } }], failure: [] },
            o,
          ),
        { signal, write: true },
      );
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
