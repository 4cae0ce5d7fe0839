import { randomBytes } from 'node:crypto';
import type { IRequestOp } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { deleteGuarded } from '../core/guarded-delete.js';
import { isTransient, LockLostError, SessionExpiredError } from '../core/errors.js';
import { leaseHex } from '../core/keys.js';
import { Release } from '../core/release.js';
import type { Session } from '../core/session.js';

/* Helpers for one lock key: naming it, removing it safely, and explaining why it vanished. */

/** Matches {@link uniqueSuffix}: `<lease hex>_<12 hex digits>`. */
export const UNIQUE_SUFFIX = /^[0-9a-f]+_[0-9a-f]{12}$/;

/** A suffix that makes a key unique per acquisition: `<leaseHex>_<random>`. */
export function uniqueSuffix(session: Session): string {
  return `${leaseHex(session.leaseId)}_${randomBytes(6).toString('hex')}`;
}

/**
 * One attempt to delete `key` if it still has `createRevision` — or, when the revision is unknown (an
 * enqueue whose answer was lost), the key found under `leaseId`, by the create revision just read — with
 * `alsoOnSuccess` in the same txn (a release marker, see `core/lock-delay.ts`), and the acquisition's
 * `extraKeys` (created in the same txn as `key`) deleted in that txn whether or not the guard holds. Never deletes a newer
 * holder's key (etcd#22082), nor the key the next `lock()` of this session re-creates under the same name
 * and lease, so it is safe to repeat after an attempt of unknown outcome and harmless when it lands late.
 *
 * @throws UnavailableError when etcd does not answer within the request deadline
 */
export async function deleteKeyOnce(
  ctx: CoordContext,
  key: Buffer,
  createRevision: bigint | undefined,
  leaseId: bigint,
  what: string,
  alsoOnSuccess: IRequestOp[] = [],
  extraKeys: readonly Buffer[] = [],
): Promise<void> {
  const guard = createRevision === undefined ? { leaseId } : { createRevision };
  // The other keys of the acquisition have names unique to it: deleting them unguarded is safe.
  const alsoAlways = extraKeys.map((k): IRequestOp => ({ request_delete_range: { key: k } }));
  await deleteGuarded(ctx, what, key, guard, { alsoOnSuccess, alsoAlways });
}

/**
 * A {@link Release} that deletes `key` (see {@link deleteKeyOnce}), retried in the background while
 * `session` lives. `gone` is called once, when the release is confirmed or can no longer matter (the
 * session ended, or etcd refused it outright): only then may the same key be written again in process.
 *
 * @example
 * ```ts
 * const release = keyRelease(ctx, key, createRevision, 'mutex "a": unlock', session, releaseLocalTurn);
 * await release.run(); // rejects if not confirmed in time; the release goes on, run() can be called again
 * ```
 *
 * Failure modes: a non-transient refusal (permission denied) ends the loop and calls `gone` with the key
 * possibly still there (it then goes with the lease).
 */
export function keyRelease(
  ctx: CoordContext,
  key: Buffer,
  createRevision: bigint | undefined,
  what: string,
  session: Session,
  gone: () => void,
  alsoOnSuccess: IRequestOp[] = [],
  extraKeys: readonly Buffer[] = [],
): Release {
  const release = new Release({
    what,
    attempt: () => deleteKeyOnce(ctx, key, createRevision, session.leaseId, what, alsoOnSuccess, extraKeys),
    alive: session.signal,
  });
  void (async () => {
    for (;;) {
      try {
        await release.run();
        return;
      } catch (err) {
        if (release.done || session.done || !isTransient(err)) return;
      }
    }
  })().finally(gone);
  return release;
}

/**
 * Why my waiter key vanished: the lease is gone (revoked or expired, which the session may learn only at
 * its next keepalive) → `SessionExpiredError`; otherwise someone deleted the key → `LockLostError`.
 */
export async function waiterKeyLost(ctx: CoordContext, what: string, session: Session): Promise<Error> {
  if (session.done) return session.signal.reason as Error;
  try {
    const ttl = await ctx.requester.run(`${what}: check lease`, (o) =>
      ctx.client.leaseClient.leaseTimeToLive({ ID: session.leaseId.toString() }, o),
    );
    if (Number(ttl.TTL) <= 0) {
      return new SessionExpiredError(
        `${what}: the session's lease ${leaseHex(session.leaseId)} expired or was revoked while waiting`,
      );
    }
  } catch {
    // Cannot tell: report the key loss.
  }
  return new LockLostError(`${what}: the waiter key was deleted while waiting`);
}

/** How long a holder waits to learn whether a vanished key went with its lease (wording only). */
const LOSS_CHECK_MS = 500;

/**
 * Why a held lock key is gone, said as it is: its lease was revoked (`etcdctl lease revoke`) or expired, or
 * the key itself was deleted (`etcdctl del`) while the lease lives. The lease check is bounded by
 * {@link LOSS_CHECK_MS}: the loss must reach the holder promptly (another holder may already be granted).
 *
 * @example
 * ```ts
 * lose(await heldKeyLost(ctx, 'mutex "a"', lock.leaseId));
 * ```
 *
 * Failure modes: none: an unanswered lease check gives the message that names both causes.
 */
export async function heldKeyLost(ctx: CoordContext, what: string, leaseId: bigint): Promise<LockLostError> {
  const lease = leaseHex(leaseId);
  const ttl = await ctx.requester
    .run(
      `${what}: check lease`,
      (o) => ctx.client.leaseClient.leaseTimeToLive({ ID: leaseId.toString() }, o),
      { timeoutMs: LOSS_CHECK_MS },
    )
    .then(
      (res) => Number(res.TTL),
      () => undefined,
    );
  if (ttl !== undefined && ttl <= 0) {
    return new LockLostError(
      `${what}: the lock's lease ${lease} was revoked or expired, and the lock key with it`,
    );
  }
  if (ttl !== undefined) {
    return new LockLostError(
      `${what}: the lock key was deleted by someone else (its lease ${lease} is still alive)`,
    );
  }
  return new LockLostError(`${what}: the lock key was deleted (by someone else, or with its lease ${lease})`);
}
