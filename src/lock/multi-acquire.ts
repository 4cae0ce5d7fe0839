import type { CoordContext } from '../core/context.js';
import { abortError, withDeadline } from '../core/deadline.js';
import { CoordError, LockLostError, LockTimeoutError, UnavailableError } from '../core/errors.js';
import { GhostSweeper } from '../core/ghost-sweeper.js';
import { deleteGuarded } from '../core/guarded-delete.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import type { Session } from '../core/session.js';
import { blockersOp, completeBlockers, kvsOf } from './blockers.js';
import { keyRelease } from './lock-key.js';
import { markNotQueued } from './live-session.js';
import { acquirePrefixWatch, type PrefixWatch } from './prefix-watch.js';
import type { Granted, Predecessors, QueueSpec } from './queue.js';
import { waitAll } from './multi-wait.js';

/*
 * Taking a place in several mutex queues at once (`coord.multiLock`): ONE txn creates the key of every name
 * at one revision, then the caller waits until it is first in every queue. All of a caller's keys share one
 * create revision, so "A waits for B" means B's revision is older than A's: a total order, hence no
 * hold-and-wait cycle between multi-locks, whatever order their names came in.
 */

/** One name of a multi-lock: its queue, my key in it, and what to call once that key is gone for good. */
export interface MultiPart {
  readonly spec: QueueSpec;
  readonly key: Buffer;
  /** Releases the in-process turn on `key` (see `core/local-turn.ts`). */
  readonly onGone: () => void;
}

/** The names of one enqueue: my create revision, and per part the older keys (none: first already). */
export interface Enqueued {
  createRevision: bigint;
  older: Predecessors[];
}

/** How often an enqueue that found only part of its keys cleans them up and tries again. */
const PARTIAL_ROUNDS = 3;

/** How long a failing call waits for its waiter keys' removal before rejecting (the removal goes on). */
const CLEANUP_WAIT_MS = 1000;

/**
 * One txn: create every part's key under my lease unless any exists, and read each queue's oldest key in
 * the same revision. On the Else branch it reads my keys instead:
 * - all there, one create revision, my lease: an earlier attempt of unknown outcome applied (the txn is
 *   atomic, and this call holds every key in process) → adopted;
 * - only some there (someone deleted the others since): deleted, guarded by their create revision, and
 *   the txn is sent again — keys created by separate txns would break the total order above.
 *
 * Every attempt of unknown outcome arms the {@link GhostSweeper} for every key, so a copy applied after the
 * caller moved on is deleted once no caller in this process holds the key.
 */
async function enqueueAll(
  ctx: CoordContext,
  what: string,
  parts: readonly MultiPart[],
  session: Session,
  signal: AbortSignal,
): Promise<Enqueued> {
  const query = { limit: 1 };
  const lease = session.leaseId.toString();
  const arm = () => {
    for (const p of parts)
      GhostSweeper.of(ctx).arm(p.key, { leaseId: session.leaseId, alive: session.signal, what: p.spec.what });
  };
  const firsts = parts.map((p) => blockersOp(p.spec, query));
  for (let round = 0; ; round++) {
    const res = await withRetry(
      () =>
        ctx.requester
          .run(
            `${what}: enqueue`,
            (o) =>
              ctx.client.kv.txn(
                {
                  compare: parts.map((p) => ({
                    key: p.key,
                    target: 'Create' as const,
                    result: 'Equal' as const,
                    create_revision: '0',
                  })),
                  success: [
                    ...parts.map((p) => ({ request_put: { key: p.key, value: Buffer.alloc(0), lease } })),
                    ...firsts,
                  ],
                  failure: [...parts.map((p) => ({ request_range: { key: p.key } })), ...firsts],
                },
                o,
              ),
            { write: true, signal },
          )
          .catch((err: unknown) => {
            if (!(err instanceof CoordError) || err.code === 'UNAVAILABLE' || err.code === 'ABORTED') arm();
            throw err;
          }),
      // Safe to repeat: an attempt that did apply makes the repeat take the Else branch (and adopt).
      {
        retries: 3,
        signal,
        what,
        shouldRetry: (err) => err instanceof CoordError && err.code === 'UNAVAILABLE',
      },
    );
    const at = headerRevision(res.header);
    let createRevision = at;
    if (!res.succeeded) {
      const own = parts.map((_, i) => kvsOf(res, i)[0]);
      const mine = own.map((kv) => (kv && BigInt(kv.lease) === session.leaseId ? kv : undefined));
      const revs = new Set(mine.map((kv) => kv?.create_revision));
      const first = mine[0];
      if (first && revs.size === 1) createRevision = BigInt(first.create_revision);
      else {
        if (round + 1 >= PARTIAL_ROUNDS)
          throw new LockLostError(`${what}: the waiter keys kept vanishing while enqueueing`);
        await Promise.all(
          mine.map((kv, i) =>
            kv
              ? withRetry(
                  () =>
                    deleteGuarded(ctx, `${what}: remove partial waiter key`, parts[i]!.key, {
                      createRevision: BigInt(kv.create_revision),
                    }),
                  { signal, what },
                )
              : undefined,
          ),
        );
        continue;
      }
    }
    const older = await Promise.all(
      parts.map(async (p, i) => {
        const oldest = await completeBlockers(ctx, p.spec, query, res, parts.length + i, at, signal);
        return { kvs: oldest.kvs.filter((kv) => BigInt(kv.create_revision) < createRevision), at };
      }),
    );
    return { createRevision, older };
  }
}

/**
 * Removes every waiter key of a failed or refused attempt (guarded by the create revision, or by my lease
 * when the enqueue's answer was lost), retried in the background while the session lives; waits at most
 * {@link CLEANUP_WAIT_MS}, not at all once the session is gone (the lease takes the keys).
 */
async function cleanUpAll(
  ctx: CoordContext,
  parts: readonly MultiPart[],
  rev: bigint | undefined,
  session: Session,
  gones: readonly (() => void)[],
): Promise<void> {
  const releases = parts.map((p, i) =>
    keyRelease(ctx, p.key, rev, `${p.spec.what}: remove waiter key`, session, gones[i]!),
  );
  if (session.done) return;
  const timeoutMs = Math.min(CLEANUP_WAIT_MS, ctx.requester.requestTimeoutMs);
  await Promise.all(releases.map((r) => r.run({ timeoutMs }).catch(() => undefined)));
}

/** Options of {@link acquireAll}. */
export interface AcquireAllOptions {
  /** The whole call's signal (its `timeoutMs` included, as a `DeadlineExceeded` reason). */
  signal: AbortSignal;
  /** `try`: never wait; refused → keys removed, `undefined`. Bounded by `requestTimeoutMs`. */
  mode: 'wait' | 'try';
}

/**
 * Enqueues one key per part in one txn under `session` and waits (mode `wait`) until first in every queue.
 * Resolves with one grant per part, in the order of `parts`, all with the same create revision.
 *
 * @example
 * ```ts
 * const grants = await acquireAll(ctx, 'multiLock ["a","b"]', parts, session, { signal, mode: 'wait' });
 * const locks = grants!.map((g, i) => new Lock(ctx, parts[i]!.spec, g));
 * ```
 *
 * @throws LockTimeoutError (mode `wait`) / UnavailableError (mode `try`) when the deadline passes;
 *   AbortedError when `signal` aborts; SessionExpiredError when the session is lost while waiting;
 *   LockLostError when a waiter key is deleted by someone else. Every waiter key's removal starts before
 *   the call rejects, and is awaited for up to a second while the session lives.
 *
 * Failure modes: an enqueue of unknown outcome arms the ghost sweeper for every key; each key's in-process
 * hold (and its `onGone`) lasts until its removal is confirmed or the session is gone.
 */
export async function acquireAll(
  ctx: CoordContext,
  what: string,
  parts: readonly MultiPart[],
  session: Session,
  opts: AcquireAllOptions,
): Promise<Granted[] | undefined> {
  const ms = ctx.requester.requestTimeoutMs;
  const deadline =
    opts.mode === 'try'
      ? withDeadline(undefined, ms, session.signal, ctx.closedSignal, opts.signal)
      : withDeadline(opts.signal, undefined, session.signal, ctx.closedSignal);
  const signal = deadline.signal;
  const onTimeout =
    opts.mode === 'try'
      ? () => new UnavailableError(`${what}: etcd did not answer within ${ms} ms`)
      : (t: number) => new LockTimeoutError(`timed out after ${t} ms waiting for ${what}`);
  const sweeper = GhostSweeper.of(ctx);
  const gones = parts.map((p) => {
    const hold = sweeper.hold(p.key);
    return () => {
      hold();
      p.onGone();
    };
  });
  const watches: { current: PrefixWatch | undefined }[] = parts.map(() => ({ current: undefined }));
  let rev: bigint | undefined;
  let enqueued = false;
  try {
    // Every watch is live before the enqueue, so no later deletion on any prefix is missed.
    const opened = await Promise.allSettled(
      parts.map(async (p, i) => (watches[i]!.current = await acquirePrefixWatch(ctx, p.spec.prefix, signal))),
    );
    const failed = opened.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const p of parts) await sweeper.settled(p.key, signal);
    enqueued = true;
    const q = await enqueueAll(ctx, what, parts, session, signal);
    rev = q.createRevision;
    const live = watches as { current: PrefixWatch }[];
    const first = q.older.every((o) => o.kvs.length === 0);
    if (opts.mode === 'try' && !first) {
      for (const w of live) w.current.release();
      watches.forEach((w) => (w.current = undefined));
      await cleanUpAll(ctx, parts, rev, session, gones);
      return undefined;
    }
    if (!first) await waitAll(ctx, what, parts, q, session, live, signal);
    if (signal.aborted) throw abortError(signal, what, onTimeout);
    // A pause since the last reply leaves the loss timer unrun: ask the lease's deadline first.
    session.throwIfDone();
    const createRevision = rev;
    return parts.map((p, i) => ({
      key: p.key,
      // A multi-lock takes one key per name: no companion keys, nothing to drop early.
      extraKeys: [],
      createRevision,
      session,
      watch: live[i]!.current,
      gone: gones[i]!,
      dropHold: () => undefined,
    }));
  } catch (err) {
    for (const w of watches) w.current?.release();
    // Clean up with the client, not with the aborted signal; a key of unknown revision is only ever ours.
    if (enqueued) await cleanUpAll(ctx, parts, rev, session, gones);
    else for (const g of gones) g();
    const thrown = signal.aborted ? abortError(signal, what, onTimeout) : err;
    throw rev === undefined ? markNotQueued(thrown, session) : thrown;
  } finally {
    deadline.dispose();
  }
}
