/**
 * Schedules a supervised child's termination from its hold's lease, not only from `--kill-after`
 * (issue 14): SIGTERM once the lease is at risk (no keepalive acknowledged for `TTL − kill-after − 250 ms`)
 * or lost, SIGKILL 250 ms before the earliest moment the server could expire the lease. See
 * `kill-policy.ts` for the timeline and the flag combinations this needs.
 *
 * @module
 */
import { KILL_SAFETY_MS } from './kill-policy.js';

/** What the escalation reads of a `Session`. */
export interface LeaseLike {
  readonly leaseId: bigint;
  readonly ttlSeconds: number;
  /** Milliseconds until the session declares itself lost unless a keepalive is acknowledged. */
  readonly remainingMs: number;
  readonly signal: AbortSignal;
  on(event: 'keepalive', fn: () => void): unknown;
  off(event: 'keepalive', fn: () => void): unknown;
}

/** What the escalation does to the child. */
export interface Killable {
  lose(reason: unknown): void;
  killNoLaterThan(at: number): void;
}

/**
 * The session's loss margin: it declares loss at `lastAckedSend + TTL − margin`. Mirrors `Session`'s own
 * formula (src/core/session.ts), which does not expose it; the server cannot expire the lease before
 * `lastAckedSend + TTL`, which is `now + remainingMs + margin`.
 */
export function sessionMarginMs(ttlSeconds: number): number {
  return Math.max(250, Math.min(1000, (ttlSeconds * 1000) / 4));
}

/**
 * Ties `child`'s termination to `lease`: re-planned on every acknowledged keepalive; SIGTERM (via
 * `child.lose`) when the lease is at risk or lost; SIGKILL no later than 250 ms before the lease could
 * expire. Returns the function that stops it (call it once the child is gone).
 *
 * @example
 * ```ts
 * const stop = escalateFromLease(child, session, killAfterMs);
 * try { await child.exited; } finally { stop(); }
 * ```
 *
 * Failure modes: a process paused (SIGSTOP, swap) past the lease's expiry cannot kill in time: its
 * timers fire on resume, and lock-delay on the next holder covers that gap.
 */
export function escalateFromLease(child: Killable, lease: LeaseLike, killAfterMs: number): () => void {
  let atRisk: NodeJS.Timeout | undefined;
  const ttlMs = lease.ttlSeconds * 1000;
  const plan = (): void => {
    if (lease.signal.aborted) return;
    const now = performance.now();
    const expiresAt = now + lease.remainingMs + sessionMarginMs(lease.ttlSeconds);
    child.killNoLaterThan(expiresAt - KILL_SAFETY_MS);
    clearTimeout(atRisk);
    const termAt = expiresAt - KILL_SAFETY_MS - killAfterMs;
    atRisk = setTimeout(
      () => {
        const silentMs = Math.round(performance.now() - (expiresAt - ttlMs));
        child.lose(
          new Error(
            `lease ${lease.leaseId.toString(16)} at risk: no keepalive acknowledged for ${silentMs} ms, ` +
              `and the server may expire it in ${Math.max(0, Math.round(expiresAt - performance.now()))} ms`,
          ),
        );
      },
      Math.max(0, termAt - now),
    );
  };
  const onLost = (): void => child.lose(lease.signal.reason);
  plan();
  lease.on('keepalive', plan);
  if (lease.signal.aborted) onLost();
  else lease.signal.addEventListener('abort', onLost, { once: true });
  return () => {
    clearTimeout(atRisk);
    lease.off('keepalive', plan);
    lease.signal.removeEventListener('abort', onLost);
  };
}

/**
 * The coordinator's default session when it is the one holding `leaseId` (a lock's or term's), else
 * undefined: the default session is replaced only after it was lost, and then the hold's own signal has
 * aborted already.
 *
 * @example
 * ```ts
 * const lease = leaseHolding(coord, lock.leaseId);
 * ```
 */
export function leaseHolding(coord: { readonly session: LeaseLike }, leaseId: bigint): LeaseLike | undefined {
  return coord.session.leaseId === leaseId ? coord.session : undefined;
}
