import { setMaxListeners } from 'node:events';
import type { IKeyValue, ITxnResponse } from 'etcd3';
import { blockersOp, completeBlockers, kvsOf } from './blockers.js';
import type { CoordContext } from '../core/context.js';
import { abortError, withDeadline } from '../core/deadline.js';
import { CoordError, LockLostError, PermissionDeniedError, SessionExpiredError } from '../core/errors.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import type { Session } from '../core/session.js';
import { acquirePrefixWatch, type PrefixWatch } from './prefix-watch.js';
import { waiterKeyLost } from './lock-key.js';
import { GhostSweeper } from '../core/ghost-sweeper.js';

/**
 * What a fair queue grants. Waiters are ordered by the create revision of their key under `prefix`; a
 * waiter is granted once fewer than `limit` keys in `blockers` are older than its own key. A mutex is
 * `blockers = prefix, limit = 1`; a semaphore `limit = permits`; an RW lock's reader only counts writers.
 */
export interface QueueSpec {
  /** Names the lock in messages, e.g. `mutex "jobs/a"`. */
  readonly what: string;
  /** Every key of this lock (watched for deletions). */
  readonly prefix: { key: Buffer; end: Buffer };
  /** The keys that block a younger waiter. */
  readonly blockers: { key: Buffer; end: Buffer };
  /**
   * True for a key in `blockers` that is one of this lock's own keys (not a nested name's key that shares
   * the prefix, e.g. `jobs/nightly/<lease>` under a lock `jobs` — issue 16 f3).
   */
  readonly isOwner: (key: Buffer) => boolean;
  readonly limit: number;
  /** Written by a clean release of a key (see `core/lock-delay.ts`); a mutex with a lock-delay writes it. */
  readonly releaseMarker?: Buffer | undefined;
  /** Records the holder, so a newcomer sees a lost one (see `held-marker.ts`); a mutex with a lock-delay. */
  readonly heldMarker?: Buffer | undefined;
  /** Lock-delay after a predecessor's expiry (limit 1 only). Default 0. */
  readonly lockDelayMs?: number | undefined;
  /** The value each waiter/holder key is created with (a mutex's `value` option). Default empty. */
  readonly holderValue?: Buffer | undefined;
  /** A revocable mutex's request key `<name>\0revoke` (see `revocation.ts`); cleared by every unlock. */
  readonly revokeKey?: Buffer | undefined;
}

/** Keys that were older than mine at one revision: the candidates for "the one that made me first". */
export interface Predecessors {
  readonly kvs: IKeyValue[];
  readonly at: bigint;
}

/** A granted queue position: my key, its create revision, and the shared watch still referenced. */
export interface Granted {
  readonly key: Buffer;
  /**
   * The other keys of this acquisition, created in the same txn as `key` (so with the same create
   * revision) under the same lease: a multi-permit semaphore's further permits, a write lock's companion
   * read key (see `rw-mutex.ts`). Released with `key`.
   */
  readonly extraKeys: readonly Buffer[];
  readonly createRevision: bigint;
  readonly session: Session;
  readonly watch: PrefixWatch;
  /** Call once the key is released for good (see {@link AcquireOptions.onGone}). */
  readonly gone: () => void;
  /** Ends the in-process hold on one key of the acquisition early (a downgrade deletes the write key). */
  readonly dropHold: (key: Buffer) => void;
}

/**
 * One txn: create my key (and `extraKeys`, all with one create revision) under my lease unless it exists
 * (so a repeat of an enqueue whose answer was lost finds the first attempt's keys), and read the oldest
 * `limit` blockers in the same revision.
 *
 * An attempt of unknown outcome (no answer, or abandoned when `signal` aborted) may still be applied later,
 * after the caller moved on, and re-create the key: it arms the {@link GhostSweeper} for the key, which
 * deletes such a ghost once no caller in this process holds the key (issue 15 f3).
 */
export async function enqueue(
  ctx: CoordContext,
  spec: QueueSpec,
  key: Buffer,
  session: Session,
  signal: AbortSignal,
  extraKeys: readonly Buffer[] = [],
): Promise<{ createRevision: bigint; granted: boolean; older: Predecessors }> {
  const query = { limit: spec.limit };
  const first = blockersOp(spec, query);
  const arm = () => {
    for (const k of [key, ...extraKeys])
      GhostSweeper.of(ctx).arm(k, { leaseId: session.leaseId, alive: session.signal, what: spec.what });
  };
  const value = spec.holderValue ?? Buffer.alloc(0);
  const lease = session.leaseId.toString();
  const res = await withRetry(
    () =>
      ctx.requester
        .run(
          `${spec.what}: enqueue`,
          (o) =>
            ctx.client.kv.txn(
              {
                compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
                success: [
                  ...[key, ...extraKeys].map((k) => ({ request_put: { key: k, value, lease } })),
                  first,
                ],
                failure: [{ request_range: { key } }, first],
              },
              o,
            ),
          { write: true, signal },
        )
        .catch((err: unknown) => {
          if (!(err instanceof CoordError) || err.code === 'UNAVAILABLE' || err.code === 'ABORTED') arm();
          throw err;
        }),
    // Repeating it is safe: a first attempt that did apply makes the repeat take the Else branch.
    {
      retries: 3,
      signal,
      what: spec.what,
      shouldRetry: (err) => err instanceof CoordError && err.code === 'UNAVAILABLE',
    },
  );
  const createRevision = txnCreateRevision(res);
  if (createRevision === undefined)
    throw new LockLostError(`${spec.what}: the waiter key vanished while enqueueing`);
  const at = headerRevision(res.header);
  const oldest = await completeBlockers(
    ctx,
    spec,
    query,
    res,
    res.succeeded ? 1 + extraKeys.length : 1,
    at,
    signal,
  );
  const older = oldest.kvs.filter((kv) => BigInt(kv.create_revision) < createRevision);
  return { createRevision, granted: older.length < spec.limit, older: { kvs: older, at } };
}

function txnCreateRevision(res: ITxnResponse): bigint | undefined {
  if (res.succeeded) return headerRevision(res.header);
  const own = kvsOf(res, 0)[0];
  return own ? BigInt(own.create_revision) : undefined;
}

/** How many older keys one queue read fetches: with no more than this, the read holds the whole set. */
const SNAPSHOT_KEYS = 64;

/**
 * Waits until fewer than `limit` blockers are older than my key. Resolves with the last older keys it saw
 * (`known`, the enqueue's, if it saw none), among which is the one whose deletion made me first.
 *
 * Each round reads my own key and the older blockers at one revision R (keys only, nearest first), then
 * waits on the watch that was live before I enqueued, so a handoff costs one delete commit plus one watch
 * notification. When the read held *every* older blocker (at most {@link SNAPSHOT_KEYS}), the watch alone
 * decides: once fewer than `limit` of them remain, and the watch (which delivers in revision order) has not
 * shown my own key deleted, my key existed at the revision that granted me the lock, and no further read is
 * needed. Otherwise the round waits for any of the nearest `limit` blockers to go and reads again; the read
 * that finds no blocker also proves my key still exists with my create revision. Either way a waiter whose
 * lease expired is never told it holds the lock (etcd#11456).
 */
export async function waitTurn(
  ctx: CoordContext,
  spec: QueueSpec,
  key: Buffer,
  rev: bigint,
  session: Session,
  pw: { current: PrefixWatch },
  signal: AbortSignal,
  known: Predecessors,
): Promise<Predecessors> {
  let last = known;
  const query = { maxCreateRevision: rev - 1n, descending: true, limit: Math.max(spec.limit, SNAPSHOT_KEYS) };
  for (;;) {
    const res = await withRetry(
      () =>
        ctx.requester.run(
          `${spec.what}: read queue`,
          (o) =>
            ctx.client.kv.txn(
              {
                compare: [],
                success: [{ request_range: { key } }, blockersOp(spec, query)],
              },
              o,
            ),
          { signal },
        ),
      { signal, what: spec.what },
    );
    const own = kvsOf(res, 0)[0];
    if (!own || BigInt(own.create_revision) !== rev) throw await waiterKeyLost(ctx, spec.what, session);
    const at = headerRevision(res.header);
    const read = await completeBlockers(ctx, spec, query, res, 1, at, signal);
    const blockers = read.kvs;
    if (blockers.length < spec.limit) return last;
    last = { kvs: blockers, at };
    const complete = !read.more;
    // Complete set: wait until fewer than `limit` remain. Partial: wake on the first of the nearest `limit` to go.
    const waitOn = complete ? blockers : blockers.slice(0, spec.limit);
    const wakeBelow = complete ? spec.limit : waitOn.length;
    // Cancels the waits still pending when the round ends, so none is left behind on the shared watch.
    const rounds = new AbortController();
    const inner = withDeadline(signal, undefined, rounds.signal);
    setMaxListeners(0, inner.signal); // one listener per blocker
    try {
      const watch = pw.current.watch;
      const ownGone = watch.waitForDelete(key, at, inner.signal).then(() => 'own' as const);
      let remaining = waitOn.length;
      const turn = new Promise<'turn'>((resolve, reject) => {
        for (const b of waitOn) {
          watch
            .waitForDelete(b.key, at, inner.signal)
            .then(() => --remaining < wakeBelow && resolve('turn'), reject);
        }
      });
      const woke = await Promise.race([ownGone, turn]);
      if (woke === 'own') throw await waiterKeyLost(ctx, spec.what, session);
      // Same tick as the deletion that woke us: had my key gone at that revision or before, the watch has it.
      if (complete && watch.deletedAbove(key, at) === undefined) return last;
    } catch (err) {
      if (signal.aborted) throw abortError(signal, spec.what);
      if (
        err instanceof LockLostError ||
        err instanceof SessionExpiredError ||
        err instanceof PermissionDeniedError
      )
        throw err;
      // The shared watch broke (history compacted while disconnected, or cancelled): open a fresh one and
      // re-read; the next round's read happens after the new watch is live, so nothing is missed.
      pw.current.retire();
      const next = await acquirePrefixWatch(ctx, spec.prefix, signal);
      pw.current.release();
      pw.current = next;
    } finally {
      rounds.abort();
      inner.dispose();
    }
  }
}
