/**
 * The deadline of the public call in progress, carried to every request it makes without each recipe
 * threading it by hand (issue 22: `timeoutMs` is an upper bound whatever internal step is running).
 * `withRetry` opens a scope for its attempts; `Requester.run` caps each request at the scope's remaining
 * time and stops when its signal aborts; the endpoint policy reads the request's own deadline to know how
 * long it may wait for a connected member.
 *
 * A scope is only honoured while it is active: background work started inside a call (a session's
 * keepalive, a release retried later) outlives it and must not inherit a deadline that has since passed.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** One call's (or one request's) bound. */
export interface CallScope {
  /** Aborted when the call's deadline passes or its caller aborts. */
  readonly signal: AbortSignal;
  /** `performance.now()` at which the deadline passes (`undefined`: none, only the signal). */
  readonly expiresAt: number | undefined;
  /** False once the call that opened the scope has settled. */
  active: boolean;
}

const storage = new AsyncLocalStorage<CallScope>();

/** The innermost active scope, if any. */
export function currentScope(): CallScope | undefined {
  const scope = storage.getStore();
  return scope?.active ? scope : undefined;
}

/** Milliseconds left in the current scope (`undefined` without a deadline). */
export function scopeRemaining(scope: CallScope | undefined): number | undefined {
  return scope?.expiresAt === undefined ? undefined : Math.max(0, scope.expiresAt - performance.now());
}

/**
 * Runs `fn` inside `scope` and deactivates the scope once `fn` settles.
 *
 * @example
 * ```ts
 * await inScope({ signal: deadline.signal, expiresAt: deadline.expiresAt, active: true }, () => attempt());
 * ```
 */
export async function inScope<T>(scope: CallScope, fn: () => Promise<T>): Promise<T> {
  try {
    return await storage.run(scope, fn);
  } finally {
    scope.active = false;
  }
}

/**
 * Runs `fn` outside any caller's scope: for work shared by many callers (the default session's renewal)
 * that must keep its own deadline whatever the caller that happened to start it does.
 */
export function detached<T>(fn: () => T): T {
  return storage.exit(fn);
}
