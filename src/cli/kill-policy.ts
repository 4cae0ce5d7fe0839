/**
 * `--kill-after` and `--lock-delay` of the commands that run a child while holding something on a lease
 * (lock, elect, once): their defaults from `--ttl`, and the combinations that are refused because they
 * cannot keep the child dead before another holder can be granted (issue 14).
 *
 * The timeline on a holder cut off from etcd, with `E` the earliest moment the server could expire the
 * lease (last acknowledged keepalive *send* + TTL, on this process's monotonic clock):
 *
 * ```
 *  E − kill-after − 250 ms   SIGTERM to the child's group ("lease at risk": no keepalive acknowledged)
 *  E − margin                the session declares itself lost (SIGTERM now, if not sent yet)
 *  E − 250 ms                SIGKILL to the child's group, whatever it did with SIGTERM
 *  E                         the server may expire the lease; the next waiter may be granted
 *  E + lock-delay            … not before this, when the library applies lock-delay
 * ```
 *
 * So the SIGTERM comes `kill-after` before the SIGKILL, and at least {@link PATIENCE_MS} after the last
 * acknowledged keepalive (a single lost keepalive never terminates a child). That bounds `kill-after`:
 * `kill-after ≤ TTL − 1 s − 250 ms` (1.75 s for `--ttl 3`, 8.75 s for the default 10). A lease that is
 * lost without warning (revoked, or noticed late because this process was paused) is covered by
 * lock-delay instead: the next holder waits `lock-delay` after the expiry, and the child gets `kill-after`
 * from when the loss is noticed, hence `lock-delay ≥ kill-after`.
 *
 * @module
 */
import { durationOption, type Parsed } from './args.js';
import { UsageError } from './exit-codes.js';

/** How long before the earliest server-side expiry the child's group gets SIGKILL: room for a late timer. */
export const KILL_SAFETY_MS = 250;
/** The least time without an acknowledged keepalive before a child is terminated as "at risk". */
export const PATIENCE_MS = 1000;
/** The default `--kill-after`, when the TTL allows it. */
export const DEFAULT_KILL_AFTER_MS = 5000;
/** The default `--lock-delay` is `kill-after` plus this: room to notice a revoked lease (one keepalive). */
export const LOCK_DELAY_SLACK_MS = 1000;
/** The coordinator's default lease TTL (`connect()`'s `ttlSeconds`). */
export const DEFAULT_TTL_SECONDS = 10;

/** How a supervised child is terminated when its hold is lost or at risk. */
export interface KillPolicy {
  /** Grace between SIGTERM and SIGKILL. */
  killAfterMs: number;
  /** Passed to the library as `lockDelayMs`: the next holder's wait after an expired/revoked lease. */
  lockDelayMs: number;
  /** Schedule the escalation from the lease (false only under {@link UNSAFE_FLAG_ONLY_ENV}). */
  fromLease: boolean;
}

/**
 * `ETCD_COORD_UNSAFE_FLAG_ONLY_KILL=1` restores the old, unsafe behaviour (SIGKILL only `--kill-after`
 * after the loss, no lock-delay, no refusals): the fault campaign's negative control for the CLI overlap
 * checker, which must then report violations. Never set it otherwise.
 */
export const UNSAFE_FLAG_ONLY_ENV = 'ETCD_COORD_UNSAFE_FLAG_ONLY_KILL';

/**
 * The largest `--kill-after` that a lease of `ttlSeconds` can honour.
 *
 * @example
 * ```ts
 * maxKillAfterMs(10); // 8750
 * ```
 */
export function maxKillAfterMs(ttlSeconds: number): number {
  return ttlSeconds * 1000 - PATIENCE_MS - KILL_SAFETY_MS;
}

/**
 * Reads `--kill-after` and `--lock-delay` for a lease of `ttlSeconds` (the default TTL when undefined).
 * Defaults: `kill-after` = min(5 s, the largest the TTL allows); `lock-delay` = `kill-after` + 1 s.
 *
 * @example
 * ```ts
 * const { killAfterMs, lockDelayMs } = killPolicy(p, 'lock', ttlSeconds);
 * ```
 *
 * @throws UsageError (exit 64) for a `--kill-after` above `TTL − 1.25 s`, or a `--lock-delay` below
 *   `--kill-after`, naming both flags and what would work
 *
 * Failure modes: none at run time; this only reads flags.
 */
export function killPolicy(
  p: Parsed,
  command: string,
  ttlSeconds: number | undefined,
  env: NodeJS.ProcessEnv = {},
): KillPolicy {
  const ttl = ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const max = maxKillAfterMs(ttl);
  const explicit = durationOption(p, 'kill-after', command);
  if (env[UNSAFE_FLAG_ONLY_ENV] === '1')
    return { killAfterMs: explicit ?? DEFAULT_KILL_AFTER_MS, lockDelayMs: 0, fromLease: false };
  if (explicit !== undefined && explicit > max) {
    const ttlNeeded = Math.ceil((explicit + PATIENCE_MS + KILL_SAFETY_MS) / 1000);
    throw new UsageError(
      `--kill-after ${explicit} ms cannot be honoured with --ttl ${ttl}: the command must be dead before ` +
        `the lease can expire, and SIGTERM is sent only after ${PATIENCE_MS} ms without a keepalive, so ` +
        `--kill-after can be at most ${max} ms (or use --ttl ${ttlNeeded} or more)`,
      command,
    );
  }
  const killAfterMs = explicit ?? Math.min(DEFAULT_KILL_AFTER_MS, max);
  const lockDelay = durationOption(p, 'lock-delay', command);
  if (lockDelay !== undefined && lockDelay < killAfterMs) {
    throw new UsageError(
      `--lock-delay ${lockDelay} ms is shorter than --kill-after ${killAfterMs} ms: after a lease that ` +
        `was revoked or expired unnoticed, the next holder could start while this command still runs ` +
        `(use --lock-delay ${killAfterMs}ms or more, or a shorter --kill-after)`,
      command,
    );
  }
  return { killAfterMs, lockDelayMs: lockDelay ?? killAfterMs + LOCK_DELAY_SLACK_MS, fromLease: true };
}

/** The help lines of `--kill-after` and `--lock-delay`, shared by lock, elect and once. */
export const KILL_POLICY_HELP = `  --kill-after <duration> grace between SIGTERM and SIGKILL when the hold is lost or at risk. At most
                          --ttl − 1.25s; default 5s, or that maximum if less (750ms for --ttl 2). SIGTERM is sent once no keepalive
                          was acknowledged for (--ttl − --kill-after − 250ms), SIGKILL 250ms before the
                          server could expire the lease: the command (its whole process group) is dead
                          before the next holder can be granted, whatever it does with SIGTERM
  --lock-delay <duration> after this holder's lease expired or was revoked (not after a clean release),
                          the next holder waits this long before it is granted: it covers a loss noticed
                          late (this process paused, the lease revoked). Costs that much extra failover
                          time after a crash; a clean exit hands over at once. At least --kill-after.
                          Default --kill-after + 1s`;
