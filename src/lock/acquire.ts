import type { IKeyValue } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { abortError, sleep, withDeadline } from '../core/deadline.js';
import type { DeletionWatch } from '../core/deletion-watch.js';
import { LockTimeoutError, UnavailableError } from '../core/errors.js';
import { GhostSweeper } from '../core/ghost-sweeper.js';
import { applyLockDelay } from '../core/lock-delay.js';
import type { Session } from '../core/session.js';
import { newcomerDelay, recordHolder } from '../core/held-marker.js';
import { keyRelease } from './lock-key.js';
import { acquirePrefixWatch, type PrefixWatch } from './prefix-watch.js';
import { markNotQueued } from './live-session.js';
import { enqueue, waitTurn, type Granted, type Predecessors, type QueueSpec } from './queue.js';

/* Taking a queue position: acquire (wait), tryAcquire (never wait), and the cleanup of a failed attempt. */

/** Options of {@link acquire}. */
export interface AcquireOptions {
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
  /**
   * Called once the key is gone for good: after the grant's release, or after a failed call's cleanup
   * (which may finish after the call rejected). Until then nobody in this process may write the key again.
   */
  onGone?: (() => void) | undefined;
  /** Further keys created with `key` in one txn (see {@link Granted.extraKeys}). */
  extraKeys?: readonly Buffer[] | undefined;
}

/**
 * In-process holds on every key of one acquisition (see {@link GhostSweeper.hold}): `gone` ends them all
 * (and calls `onGone`) once; `drop` ends one early.
 */
function holdKeys(
  ctx: CoordContext,
  keys: readonly Buffer[],
  onGone: (() => void) | undefined,
): { gone: () => void; drop: (key: Buffer) => void } {
  const holds = new Map(keys.map((k) => [k.toString('hex'), GhostSweeper.of(ctx).hold(k)]));
  const drop = (key: Buffer) => {
    const id = key.toString('hex');
    holds.get(id)?.();
    holds.delete(id);
  };
  let called = false;
  const gone = () => {
    for (const k of keys) drop(k);
    if (called) return;
    called = true;
    onGone?.();
  };
  return { gone, drop };
}

/** How long a failing call waits for its waiter key's removal before rejecting (the removal goes on). */
const CLEANUP_WAIT_MS = 1000;

/**
 * Removes a waiter key after a failed or refused acquisition: retried in the background while the session
 * lives. Waits at most {@link CLEANUP_WAIT_MS} (or not at all once the session is lost: the lease takes
 * the key, and a caller must hear of the loss when it is declared, not after retries against a dead
 * connection — issue 15 f4).
 */
async function cleanUp(
  ctx: CoordContext,
  spec: QueueSpec,
  key: Buffer,
  rev: bigint | undefined,
  session: Session,
  gone: () => void,
  extraKeys: readonly Buffer[],
): Promise<void> {
  const what = `${spec.what}: remove waiter key`;
  const release = keyRelease(ctx, key, rev, what, session, gone, [], extraKeys);
  if (session.done) return;
  await release
    .run({ timeoutMs: Math.min(CLEANUP_WAIT_MS, ctx.requester.requestTimeoutMs) })
    .catch(() => undefined);
}

/**
 * Enqueues `key` (relative to nothing: a full etcd key) under `session` and waits for its turn.
 *
 * @example
 * ```ts
 * const granted = await acquire(ctx, spec, key, session, { signal, onGone: releaseLocalTurn });
 * const lock = new Lock(ctx, spec, granted);
 * ```
 *
 * Failure modes: an enqueue of unknown outcome arms the ghost sweeper for `key`; the in-process hold on
 * `key` (and `onGone`) lasts until the key's removal is confirmed or the session is gone.
 *
 * @throws LockTimeoutError after `timeoutMs`; AbortedError when `signal` aborts; SessionExpiredError when
 *   the session's lease is lost while waiting (as soon as the loss is declared); LockLostError when the
 *   waiter key is deleted by someone else. The waiter key's removal starts before the call rejects, and is
 *   awaited for up to a second while the session lives.
 */
export async function acquire(
  ctx: CoordContext,
  spec: QueueSpec,
  key: Buffer,
  session: Session,
  opts: AcquireOptions,
): Promise<Granted> {
  const deadline = withDeadline(opts.signal, opts.timeoutMs, session.signal, ctx.closedSignal);
  const onTimeout = (ms: number) => new LockTimeoutError(`timed out after ${ms} ms waiting for ${spec.what}`);
  const signal = deadline.signal;
  const extraKeys = opts.extraKeys ?? [];
  const { gone, drop } = holdKeys(ctx, [key, ...extraKeys], opts.onGone);
  let rev: bigint | undefined;
  let enqueued = false;
  const pw: { current: PrefixWatch | undefined } = { current: undefined };
  try {
    pw.current = await acquirePrefixWatch(ctx, spec.prefix, signal);
    for (const k of [key, ...extraKeys]) await GhostSweeper.of(ctx).settled(k, signal);
    enqueued = true;
    const q = await enqueue(ctx, spec, key, session, signal, extraKeys);
    rev = q.createRevision;
    const current = pw as { current: PrefixWatch };
    if (q.granted && spec.heldMarker && (spec.lockDelayMs ?? 0) > 0) {
      // Granted at once: was the previous holder lost rather than released? Then wait, and re-check.
      if (await newcomerDelay(ctx, spec.heldMarker, key, rev, spec.lockDelayMs ?? 0, signal)) {
        await waitTurn(ctx, spec, key, rev, session, current, signal, q.older);
      }
    } else if (!q.granted) {
      const last = await waitTurn(ctx, spec, key, rev, session, current, signal, q.older);
      if (await lockDelay(ctx, spec, current.current.watch, last, signal)) {
        // Still first, and my key still mine, after the delay? (Nobody older can appear; my key can go.)
        await waitTurn(ctx, spec, key, rev, session, current, signal, last);
      }
      if (spec.heldMarker) await recordHolder(ctx, spec.heldMarker, key, rev, signal);
    }
    if (signal.aborted) throw abortError(signal, spec.what, onTimeout);
    // A pause since the last reply (SIGSTOP, a blocked loop) leaves the loss timer unrun: ask the lease's
    // deadline before handing out a lock the server may already have given to someone else.
    session.throwIfDone();
    return { key, extraKeys, createRevision: rev, session, watch: pw.current, gone, dropHold: drop };
  } catch (err) {
    pw.current?.release();
    // Clean up with the client, not with the aborted signal; a key of unknown revision is only ever ours.
    if (enqueued) await cleanUp(ctx, spec, key, rev, session, gone, extraKeys);
    else gone();
    // The deadline's reason: LockTimeoutError, the session's SessionExpiredError, or AbortedError.
    const thrown = signal.aborted ? abortError(signal, spec.what, onTimeout) : err;
    throw rev === undefined ? markNotQueued(thrown, session) : thrown;
  } finally {
    deadline.dispose();
  }
}

/**
 * Tries once: enqueues and, unless granted at once, removes the key again. Settles within one request
 * deadline (the coordinator's `requestTimeoutMs`) even when etcd is unreachable; the removal of a refused
 * key goes on in the background.
 *
 * @example
 * ```ts
 * const granted = await tryAcquire(ctx, spec, key, session, { onGone: releaseLocalTurn });
 * return granted ? new Lock(ctx, spec, granted) : null;
 * ```
 *
 * @returns the grant, or `undefined` when the lock is taken
 * @throws UnavailableError when etcd does not answer within the request deadline
 *
 * Failure modes: as {@link acquire}; a refused key whose removal is not confirmed in time keeps the
 * in-process hold until it is.
 */
export async function tryAcquire(
  ctx: CoordContext,
  spec: QueueSpec,
  key: Buffer,
  session: Session,
  opts: Pick<AcquireOptions, 'onGone' | 'extraKeys'> & { signal?: AbortSignal } = {},
): Promise<Granted | undefined> {
  const ms = ctx.requester.requestTimeoutMs;
  // `opts.signal`: the whole try call's deadline, begun before the session was acquired.
  const deadline = withDeadline(undefined, ms, session.signal, ctx.closedSignal, opts.signal);
  const onTimeout = () => new UnavailableError(`${spec.what}: etcd did not answer within ${ms} ms`);
  const extraKeys = opts.extraKeys ?? [];
  const { gone, drop } = holdKeys(ctx, [key, ...extraKeys], opts.onGone);
  let pw: PrefixWatch | undefined;
  let rev: bigint | undefined;
  try {
    for (const k of [key, ...extraKeys]) await GhostSweeper.of(ctx).settled(k, deadline.signal);
    pw = await acquirePrefixWatch(ctx, spec.prefix, deadline.signal);
    const q = await enqueue(ctx, spec, key, session, deadline.signal, extraKeys);
    rev = q.createRevision;
    if (q.granted) {
      // Never waits for a lost predecessor, but records itself so a later newcomer sees this holder's loss.
      if (spec.heldMarker) await recordHolder(ctx, spec.heldMarker, key, rev, deadline.signal);
      session.throwIfDone();
      return { key, extraKeys, createRevision: rev, session, watch: pw, gone, dropHold: drop };
    }
    pw.release();
    pw = undefined;
    await cleanUp(ctx, spec, key, rev, session, gone, extraKeys);
    return undefined;
  } catch (err) {
    const enqueued = pw !== undefined;
    pw?.release();
    if (enqueued) await cleanUp(ctx, spec, key, rev, session, gone, extraKeys);
    else gone();
    const thrown = deadline.signal.aborted ? abortError(deadline.signal, spec.what, onTimeout) : err;
    throw rev === undefined ? markNotQueued(thrown, session) : thrown;
  } finally {
    deadline.dispose();
  }
}

/**
 * Applies `spec.lockDelayMs` when the deletion that made me first was not a clean release. Resolves `true`
 * when it waited. Which deletion: the latest among the older keys last seen, all gone by now.
 */
async function lockDelay(
  ctx: CoordContext,
  spec: QueueSpec,
  watch: DeletionWatch,
  last: Predecessors,
  signal: AbortSignal,
): Promise<boolean> {
  const ms = spec.lockDelayMs ?? 0;
  if (ms <= 0 || !spec.releaseMarker) return false;
  const p = await lastDeletion(watch, last.kvs, last.at, signal);
  if (!p) {
    // Cannot tell which deletion it was (the watch was replaced since): count it as an expiry.
    await sleep(ms, signal, spec.what);
    return true;
  }
  return applyLockDelay(ctx, {
    marker: spec.releaseMarker,
    predecessor: p.key,
    deletedAt: p.revision,
    lockDelayMs: ms,
    signal,
  });
}

/** The latest deletion above `at` among `kvs` (all deleted), from the watch; `undefined` if it cannot tell. */
async function lastDeletion(
  watch: DeletionWatch,
  kvs: IKeyValue[],
  at: bigint,
  signal: AbortSignal,
): Promise<{ key: Buffer; revision: bigint } | undefined> {
  if (kvs.length === 0 || watch.since > at) return undefined;
  try {
    const deleted = await Promise.all(
      kvs.map(async (kv) => ({ key: kv.key, revision: await watch.waitForDelete(kv.key, at, signal) })),
    );
    return deleted.reduce((a, b) => (b.revision > a.revision ? b : a));
  } catch (err) {
    if (signal.aborted) throw err;
    return undefined;
  }
}
