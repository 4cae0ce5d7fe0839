import type { CoordContext } from '../core/context.js';
import { SessionExpiredError } from '../core/errors.js';
import { hasClassName } from '../core/refused.js';
import type { Session } from '../core/session.js';

/** Set on a session loss that reached a caller before its key was known to be queued. */
const NOT_QUEUED = Symbol('etcd-coord.notQueued');

/**
 * Marks `err` when it is the loss of a lease etcd confirmed gone (revoked, expired), and the caller was not
 * yet queued: such a caller never waited in line, so it may start over on a new session without jumping
 * anyone or losing a place. A caller that was queued keeps its `SessionExpiredError` (as documented).
 *
 * @example
 * ```ts
 * throw rev === undefined ? markNotQueued(err, session) : err;
 * ```
 */
export function markNotQueued(err: unknown, session: Session): unknown {
  const lost = err instanceof SessionExpiredError && session.done && session.leaseGone;
  if (lost || isLeaseNotFound(err)) Object.defineProperty(err, NOT_QUEUED, { value: true });
  return err;
}

/** etcd's own "lease not found" answer (mapped to `SessionExpiredError` in `errors.ts`). */
function isLeaseNotFound(err: unknown): boolean {
  return err instanceof SessionExpiredError && hasClassName(err.cause, 'EtcdLeaseInvalidError');
}

function wasNotQueued(err: unknown): boolean {
  return typeof err === 'object' && err !== null && NOT_QUEUED in err;
}

/**
 * Runs `fn` on the caller's session, or on the coordinator's default one. When etcd says the default
 * session's lease no longer exists (revoked or expired, possibly before the keepalive noticed) and the caller
 * was not yet queued, the session is declared lost and `fn` runs once more on its replacement: a fresh `lock()` after a revoke must take the lock, not
 * fail with the old lease's loss. An explicit session is the caller's to replace, so its loss is thrown.
 *
 * @example
 * ```ts
 * const lock = await onLiveSession(ctx, opts.session, signal, (session) => takeLock(session));
 * ```
 *
 * @throws whatever `fn` throws; the session's loss reason when an explicit session is done
 */
export async function onLiveSession<T>(
  ctx: CoordContext,
  explicit: Session | undefined,
  signal: AbortSignal | undefined,
  fn: (session: Session) => Promise<T>,
): Promise<T> {
  if (explicit) {
    explicit.throwIfDone();
    return fn(explicit);
  }
  const session = await ctx.currentSession({ signal });
  try {
    return await fn(session);
  } catch (err) {
    if (!wasNotQueued(err) || signal?.aborted) throw err;
    if (isLeaseNotFound(err)) session.noteLeaseGone();
    return fn(await ctx.currentSession({ signal }));
  }
}
