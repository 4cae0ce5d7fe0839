import { randomBytes } from 'node:crypto';
import type { CoordContext } from '../core/context.js';
import { CoordError, LockLostError, SessionExpiredError } from '../core/errors.js';
import { leaseHex } from '../core/keys.js';
import { withRetry } from '../core/retry.js';
import type { Session } from '../core/session.js';

/* Helpers for one lock key: naming it, removing it safely, and explaining why it vanished. */

/** A suffix that makes a key unique per acquisition: `<leaseHex>_<random>`. */
export function uniqueSuffix(session: Session): string {
  return `${leaseHex(session.leaseId)}_${randomBytes(6).toString('hex')}`;
}

/**
 * Deletes `key` if it still has `createRevision` (or unconditionally when the revision is unknown, for keys
 * only this caller ever writes). Never deletes a newer holder's key (etcd#22082). Safe to repeat.
 *
 * @throws UnavailableError when etcd cannot be reached after retries
 */
export async function removeKey(
  ctx: CoordContext,
  key: Buffer,
  createRevision: bigint | undefined,
  what: string,
  retries = 4,
): Promise<void> {
  await withRetry(
    () =>
      ctx.requester.run(
        `${what}: delete key`,
        (o) =>
          ctx.client.kv.txn(
            {
              compare:
                createRevision === undefined
                  ? []
                  : [{ key, target: 'Create', result: 'Equal', create_revision: createRevision.toString() }],
              success: [{ request_delete_range: { key } }],
            },
            o,
          ),
        { write: true },
      ),
    // The delete is guarded (or the key is only ever ours): repeating one of unknown outcome is harmless.
    { retries, shouldRetry: (err) => err instanceof CoordError && err.code === 'UNAVAILABLE', what },
  );
}

/** Best-effort {@link removeKey}: the lease removes the key anyway when it expires. */
export function removeQuietly(
  ctx: CoordContext,
  key: Buffer,
  createRevision: bigint | undefined,
  what: string,
): Promise<void> {
  return removeKey(ctx, key, createRevision, what).catch(() => undefined);
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
