import { recordHolder } from '../core/held-marker.js';
import type { CoordContext } from '../core/context.js';
import { abortError, sleep, withDeadline, type WaitOptions } from '../core/deadline.js';
import { DeletionWatch } from '../core/deletion-watch.js';
import { GhostSweeper } from '../core/ghost-sweeper.js';
import { withRetry } from '../core/retry.js';
import { LockLostError, LockTimeoutError, SessionExpiredError, UnavailableError } from '../core/errors.js';
import { leaseHex, ownerKeyRange } from '../core/keys.js';
import { isLocallyBusy, takeLocalTurn } from '../core/local-turn.js';
import { applyLockDelay } from '../core/lock-delay.js';
import type { Release } from '../core/release.js';
import type { Session } from '../core/session.js';
import type { CandidateKeys } from './candidate-keys.js';
import { Term } from './term.js';
import { settled } from './withdraw.js';

/** How long a failed campaign waits for its key's withdrawal before it rejects anyway. */
const WITHDRAW_WAIT_MS = 500;

/** @internal What a campaign runs against: one election's name, keys and session choice. */
export interface CampaignSpec {
  ctx: CoordContext;
  name: string;
  /** App-relative `<name>/`. */
  prefix: string;
  session: Session | undefined;
  keys: CandidateKeys;
  /** Lock-delay after a leader's loss (not after a clean resign); 0 = none. */
  lockDelayMs: number;
  /** `<name>\0released`: the clean-resign marker (core/lock-delay.ts). */
  marker: Buffer;
  /** `<name>\0held`: the current leader's key, so a newcomer sees a lost one (core/held-marker.ts). */
  heldMarker: Buffer;
  /** runAsLeader: the term keeps the in-process turn after a loss until it is closed (see `Term`). */
  turnUntilClose?: boolean | undefined;
}

/**
 * When the last term on a key (`<name>/<lease hex>`) of this process ended by a loss, `performance.now()`
 * then: the next in-process caller on that key waits lockDelayMs from it (breaker F2). It did not queue
 * in etcd behind the lost key (same key name), so the etcd-side lock-delay never saw the loss.
 */
const lostAt = new Map<string, number>();

/**
 * @internal The campaign behind `Election.campaign()` (`wait: true`) and `Election.tryCampaign()`
 * (`wait: false`: elected at once, or `null` with the candidate key withdrawn).
 *
 * Callers on one session and name take turns in process before touching etcd (their key would be the same
 * `<name>/<lease hex>`, issue 14): the wait for the turn is part of the campaign's wait, covered by
 * `signal`/`timeoutMs`. The turn passes to the next caller when the term ends (after a resign, once its
 * delete is settled) or when the campaign fails (once its key is withdrawn).
 *
 * @throws as `Election.campaign()`
 */
export async function runCampaign(
  spec: CampaignSpec,
  value: Buffer,
  opts: WaitOptions,
  wait: boolean,
): Promise<Term | null> {
  const { ctx, name, keys } = spec;
  const what = `election "${name}": campaign`;
  // A try never waits in line, so it does not wait for an etcd that does not answer either: it settles
  // within one request deadline, like `Mutex.tryLock()` (issue 16 f1).
  const timeoutMs = wait ? opts.timeoutMs : (opts.timeoutMs ?? ctx.requester.requestTimeoutMs);
  const onTimeout = wait
    ? (ms: number) => new LockTimeoutError(`${what}: not elected within ${ms} ms`)
    : (ms: number) => new UnavailableError(`${what}: etcd did not answer within ${ms} ms`);
  const deadline = withDeadline(opts.signal, timeoutMs, ctx.closedSignal);
  const signal = deadline.signal;
  let watch: DeletionWatch | undefined;
  let session: Session | undefined;
  let releaseTurn: (() => void) | undefined;
  /** A key we created (confirmed), or a put of unknown outcome: either must be withdrawn on failure. */
  let created: { key: Buffer; rev: bigint } | undefined;
  let unsure: { key: Buffer; leaseId: bigint } | undefined;

  /** Withdraws what this campaign may have put; the turn passes on once that is settled. */
  const withdraw = (): Release | undefined => {
    const turn = releaseTurn;
    releaseTurn = undefined;
    let release: Release | undefined;
    if (session && created) release = keys.withdraw(created.key, { createRevision: created.rev }, session);
    else if (session && unsure) release = keys.withdraw(unsure.key, { leaseId: unsure.leaseId }, session);
    created = unsure = undefined;
    if (!release || !session) turn?.();
    else void settled(release, session.signal).then(turn);
    return release;
  };

  try {
    session = spec.session ?? (await ctx.currentSession({ signal }));
    const key = ctx.keyspace.key(`${spec.prefix}${leaseHex(session.leaseId)}`);
    const id = key.toString('hex');
    if (!wait && isLocallyBusy(id)) return null;
    const waitSignal = withDeadline(signal, undefined, session.signal);
    try {
      const turn = await takeLocalTurn(id, waitSignal.signal, what);
      // While the key is ours (from before the put until it is withdrawn, resigned or known gone), the ghost
      // sweeper leaves it alone; after that, a late-applied put of ours that re-creates it is deleted.
      const hold = GhostSweeper.of(ctx).hold(key);
      releaseTurn = () => {
        hold();
        turn();
      };
      // A sweep of a ghost of this key already in flight must land first, or the put would adopt the ghost
      // and the sweep then delete the adopted key.
      await GhostSweeper.of(ctx).settled(key, waitSignal.signal);
      const lost = lostAt.get(id);
      lostAt.delete(id);
      if (lost !== undefined && spec.lockDelayMs > 0) {
        const left = lost + spec.lockDelayMs - performance.now();
        if (left > 0) await sleep(left, waitSignal.signal, what);
      }
      const range = ownerKeyRange(ctx.keyspace.key(spec.prefix));
      watch = await DeletionWatch.open(ctx, range.key, range.end, waitSignal.signal);
      unsure = { key, leaseId: session.leaseId };
      const myRev = await keys.put(key, value, session, waitSignal.signal);
      // Created or adopted: from here on it is ours to withdraw by its create revision.
      created = { key, rev: myRev };
      unsure = undefined;
      /** The deletion that last let this candidate move up: `null` once waited but unknown (watch replaced). */
      let moved: { key: Buffer; rev: bigint } | null | undefined;
      let delayed = false;
      for (;;) {
        // A read, safe to repeat: a connection reset while waiting (a proxy or member coming back) is retried
        // with backoff, as the mutex's queue read is, instead of ending a campaign that has no deadline.
        const own = session;
        const { revision, predecessor } = await withRetry(
          () => keys.readQueue(key, myRev, own, waitSignal.signal),
          { signal: waitSignal.signal, what },
        );
        if (!predecessor && moved !== undefined && !delayed && spec.lockDelayMs > 0) {
          // Made first by a deletion: a lost leader (lease expired or revoked, key deleted by someone) gives
          // whatever it was still doing lockDelayMs to stop; a clean resign (its marker) hands over at once.
          // Then read again: still first (nobody older can appear), own key still ours?
          delayed = true;
          const ms = spec.lockDelayMs;
          const lockDelay = { marker: spec.marker, lockDelayMs: ms, signal: waitSignal.signal };
          if (moved === null) {
            await sleep(ms, waitSignal.signal, what);
            continue;
          }
          if (await applyLockDelay(ctx, { ...lockDelay, predecessor: moved.key, deletedAt: moved.rev }))
            continue;
        }
        if (!predecessor && spec.lockDelayMs > 0) {
          // Record this leader, so that a newcomer after a loss of it waits. A newcomer itself (elected
          // without waiting behind anyone) over a leader that did not resign cleanly waits lockDelayMs:
          // that leader's child may still run (the once/elect cli-overlap finding). Then read again.
          const lostLeader = await recordHolder(ctx, spec.heldMarker, key, myRev, waitSignal.signal);
          if (lostLeader && moved === undefined && !delayed) {
            delayed = true;
            await sleep(spec.lockDelayMs, waitSignal.signal, what);
            continue;
          }
        }
        if (!predecessor) {
          // The lease may have been revoked (or the key deleted) between the read and now: the lock-delay
          // and owner-scan awaits leave room for it. Never report elected on what is already known lost.
          session.throwIfDone();
          if (watch.deletedAbove(key, revision))
            throw new LockLostError(`${what}: the candidate key was deleted while waiting`);
          const term = new Term({
            ctx,
            name,
            fullKey: key,
            fencingToken: myRev,
            session,
            value,
            watch,
            readRevision: revision,
            releaseTurn: releaseTurn,
            marker: spec.lockDelayMs > 0 ? spec.marker : undefined,
            heldMarker: spec.lockDelayMs > 0 ? spec.heldMarker : undefined,
            turnUntilClose: spec.turnUntilClose,
            onLost: spec.lockDelayMs > 0 ? () => lostAt.set(id, performance.now()) : undefined,
            lockDelayed: delayed,
          });
          watch = undefined;
          created = undefined;
          releaseTurn = undefined;
          // Lost already (the session's signal had aborted): the term released its key and turn itself.
          if (term.signal.aborted) throw term.signal.reason as Error;
          return term;
        }
        if (!wait) {
          // Somebody leads (or was first in line): not elected. Leave no candidate key behind.
          await withdraw()?.run({ signal });
          return null;
        }
        // Wait for the predecessor to go, or for the own key to go (revoked lease, `etcdctl del`).
        const both = new AbortController();
        const stop = withDeadline(waitSignal.signal, undefined, both.signal);
        try {
          const mine = watch.waitForDelete(key, revision, stop.signal).then(() => {
            throw new LockLostError(`${what}: the candidate key was deleted while waiting`);
          });
          mine.catch(() => undefined);
          const rev = await Promise.race([watch.waitForDelete(predecessor, revision, stop.signal), mine]);
          moved = { key: predecessor, rev };
        } catch (err) {
          if (waitSignal.signal.aborted || err instanceof LockLostError) throw err;
          moved = null;
          // The watch broke (history compacted while disconnected): watch again, then re-read the queue.
          watch.close();
          watch = undefined;
          watch = await DeletionWatch.open(ctx, range.key, range.end, waitSignal.signal);
        } finally {
          both.abort();
          stop.dispose();
        }
      }
    } finally {
      waitSignal.dispose();
    }
  } catch (err) {
    const fail =
      signal.aborted && !(err instanceof SessionExpiredError) ? abortError(signal, what, onTimeout) : err;
    // A put that got no answer (or was cut short) may have created the key, which would otherwise queue
    // (or lead) for as long as the session lives.
    if (unsure && !(err instanceof UnavailableError || signal.aborted)) unsure = undefined;
    const release = withdraw();
    // Rejecting is not held up by a session that is gone (the lease takes the key, issue 15 f4), nor for
    // long by an etcd that does not answer (the call settles within its deadline + 1 s, issue 16 f1): the
    // withdrawal goes on in the background. With etcd answering, the key is gone when this rejects.
    if (release && session && !session.done)
      await release.run({ timeoutMs: WITHDRAW_WAIT_MS }).catch(() => undefined);
    throw fail;
  } finally {
    watch?.close();
    deadline.dispose();
  }
}
