import { isAuthNotEnabledError, isAuthRequiredError, isAuthStaleError } from './auth.js';
import { GrpcStatus, grpcStatusCode, hasClassName, wasNeverSent } from './refused.js';

/** The stable codes carried by every {@link CoordError}. */
export type CoordErrorCode =
  | 'LOCK_TIMEOUT'
  | 'LOCK_LOST'
  | 'SESSION_EXPIRED'
  | 'NOT_LEADER'
  | 'NO_LEADER'
  | 'CONFLICT'
  | 'COMPACTED'
  | 'UNAVAILABLE'
  | 'PERMISSION_DENIED'
  | 'INVALID_ARGUMENT'
  | 'ABORTED'
  | 'QUEUE_FULL';

/**
 * Base class of every error etcd-coord throws on purpose. Match on `code`, not on the message.
 *
 * @example
 * ```ts
 * try { await m.lock({ timeoutMs: 1000 }); }
 * catch (err) { if (err instanceof CoordError && err.code === 'LOCK_TIMEOUT') … }
 * ```
 */
export abstract class CoordError extends Error {
  /** The stable code of this error: match on it, not on the message. */
  abstract readonly code: CoordErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A `lock()`/`acquire()` deadline passed before the lock was granted. */
export class LockTimeoutError extends CoordError {
  readonly code = 'LOCK_TIMEOUT';
}

/** A held lock, permit or leadership term was lost (its key deleted or its lease gone). */
export class LockLostError extends CoordError {
  readonly code = 'LOCK_LOST';
}

/** The session's lease expired, was revoked, or may have expired (no keepalive acknowledged in time). */
export class SessionExpiredError extends CoordError {
  readonly code = 'SESSION_EXPIRED';
}

/** A leader-only operation was attempted by a campaigner that is not (or no longer) the leader. */
export class NotLeaderError extends CoordError {
  readonly code = 'NOT_LEADER';
}

/** An operation needed a leader and the election has none. */
export class NoLeaderError extends CoordError {
  readonly code = 'NO_LEADER';
}

/** A compare-and-set precondition failed: somebody else wrote first. */
export class ConflictError extends CoordError {
  readonly code = 'CONFLICT';
}

/** The requested revision has been compacted away; the caller must re-read from the current revision. */
export class CompactedError extends CoordError {
  readonly code = 'COMPACTED';
  constructor(
    message: string,
    /** The store's compaction revision: history before it is gone. */
    readonly compactRevision: bigint,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * etcd could not be reached in time. `mayHaveApplied` is true when a write was sent and its outcome is
 * unknown: the caller must not blindly retry a non-idempotent write.
 *
 * "May have applied" includes "may apply *later*": a member that was paused or partitioned can apply a
 * buffered write seconds after the caller gave up, after the caller's next writes, and an unconditional
 * put then silently undoes them (seen in the fault campaign). Guarded writes are immune, because the
 * guard is evaluated when the write applies: use `lock.guard()`, a term's guard, compare-and-set, or
 * `expectRevision` when the order of writes matters.
 */
export class UnavailableError extends CoordError {
  readonly code = 'UNAVAILABLE';
  /** True when a write was sent and its outcome is unknown (it may have applied, or may apply later). */
  readonly mayHaveApplied: boolean;
  constructor(message: string, options?: { cause?: unknown; mayHaveApplied?: boolean }) {
    super(message, options);
    this.mayHaveApplied = options?.mayHaveApplied ?? false;
  }
}

/** etcd refused the request for lack of permission (RBAC) or bad credentials. */
export class PermissionDeniedError extends CoordError {
  readonly code = 'PERMISSION_DENIED';
}

/** An argument was rejected before any request was sent. */
export class InvalidArgumentError extends CoordError {
  readonly code = 'INVALID_ARGUMENT';
}

/** The caller's `AbortSignal` fired, or the owning handle was closed. */
export class AbortedError extends CoordError {
  readonly code = 'ABORTED';
}

/**
 * True for errors worth another attempt: etcd was unavailable. That includes writes whose outcome is unknown
 * (`mayHaveApplied`), so only requests that are safe to repeat (reads, guarded writes) may use it.
 */
export function isTransient(err: unknown): boolean {
  return err instanceof UnavailableError;
}

/** gRPC codes that mean "etcd did not answer (in time)": the request may or may not have been served. */
const UNANSWERED: ReadonlySet<number> = new Set([
  // The codes etcd3 itself treats as recoverable (its RecoverableError marker, lib/errors.js).
  GrpcStatus.UNKNOWN,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.ABORTED,
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.CANCELLED,
  GrpcStatus.INTERNAL,
]);

/**
 * Turns an error thrown by the `etcd3` client into a {@link CoordError}. `what` names the operation for the
 * message; `write` marks requests whose effect may have been applied even though no answer came back
 * (`Requester.run` clears it for a request that provably never left, see {@link wasNeverSent}).
 *
 * Errors are classified by what they carry — etcd3's class *names*, the gRPC status code — never by
 * `instanceof` against this package's copy of etcd3: a client made by another copy (`connect({ client })`)
 * throws classes this copy has never seen (issue 16, finding 5).
 *
 * @example
 * ```ts
 * try { await client.put('k').value('v'); } catch (err) { throw toCoordError(err, 'put', true); }
 * ```
 *
 * Failure modes: an error that is none of etcd's or gRPC's is returned unchanged (a programming error
 * must not read as "etcd unavailable").
 */
export function toCoordError(err: unknown, what: string, write = false): Error {
  if (err instanceof CoordError) return err;
  const is = (name: string) => hasClassName(err, name);
  const code = grpcStatusCode(err);
  if (is('EtcdAuthenticationFailedError')) {
    return new PermissionDeniedError(`${what}: etcd authentication failed (wrong user name or password)`, {
      cause: err,
    });
  }
  if (is('EtcdPermissionDeniedError') || code === GrpcStatus.PERMISSION_DENIED) {
    return new PermissionDeniedError(
      `${what}: permission denied by etcd (the user's roles do not grant this key range)`,
      { cause: err },
    );
  }
  if (
    is('GRPCUnauthenticatedError') ||
    is('EtcdInvalidAuthTokenError') ||
    code === GrpcStatus.UNAUTHENTICATED
  ) {
    return new PermissionDeniedError(`${what}: not authenticated`, { cause: err });
  }
  if (isAuthRequiredError(err)) {
    const message = `${what}: etcd requires authentication: give \`auth\` (user and password) or a client certificate`;
    return new PermissionDeniedError(message, { cause: err });
  }
  if (isAuthNotEnabledError(err)) {
    const message = `${what}: etcd has authentication disabled and refuses a user name and password: connect without them`;
    return new PermissionDeniedError(message, { cause: err });
  }
  if (isAuthStaleError(err)) {
    const message = `${what}: etcd refused the auth token as older than its last RBAC change`;
    return new PermissionDeniedError(message, { cause: err });
  }
  if (is('EtcdLeaseInvalidError')) {
    return new SessionExpiredError(`${what}: the lease no longer exists`, { cause: err });
  }
  if (is('GRPCOutOfRangeError') || code === GrpcStatus.OUT_OF_RANGE) {
    // etcd answers OUT_OF_RANGE for a compacted revision (and for a future one, which callers never ask for).
    return new CompactedError(`${what}: the revision has been compacted`, 0n, { cause: err });
  }
  if (is('ClientClosedError')) {
    return new UnavailableError(`${what}: etcd is unreachable`, { cause: err });
  }
  const refused = wasNeverSent(err);
  if (refused || (code !== undefined && UNANSWERED.has(code))) {
    const outcome = write ? ' (the write may have been applied)' : refused ? ' (it was not applied)' : '';
    const message = refused && !write ? `no etcd member accepted the request` : `etcd did not answer`;
    return new UnavailableError(`${what}: ${message}${outcome}`, { cause: err, mayHaveApplied: write });
  }
  return err instanceof Error ? err : new Error(String(err));
}
