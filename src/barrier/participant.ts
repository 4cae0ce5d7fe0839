/**
 * A double-barrier participant's key, `<name>/waiters/<lease hex>`: created under the ghost sweeper, and
 * deleted by one retried release. Internal to `src/barrier/`.
 */
import { randomBytes } from 'node:crypto';
import type { CoordContext } from '../core/context.js';
import { ConflictError } from '../core/errors.js';
import { GhostSweeper, type GhostHold } from '../core/ghost-sweeper.js';
import { leaseHex } from '../core/keys.js';
import { Release } from '../core/release.js';
import type { Session } from '../core/session.js';
import { createWaiter, deleteIfToken, deleteWaiter, type BarrierKeys } from './double-barrier-ops.js';

/** This participant's key while it is inside the barrier. */
export interface Participant {
  key: Buffer;
  createRevision: bigint;
  lease: bigint;
  /** The session's signal: the key lives with its lease, so its delete is retried only while it is live. */
  alive: AbortSignal;
  /** The ghost sweeper's hold on the key: released once its delete is confirmed (or the lease is gone). */
  hold: GhostHold;
  /** The delete of the key, once `leave()` (or a cleanup) asked for it: retried until confirmed. */
  leaving?: Release;
  /** What the confirmed delete saw: the revision and the keys of the participants still inside. */
  left?: { revision: bigint; others: Buffer[] };
}

/**
 * Creates this session's participant key and counts who is inside, in one revision.
 *
 * Issue 15 f3: a create attempt of unknown outcome may be applied late, after this participant left,
 * putting the key back under the live session with no owner. The key is held in the ghost sweeper from
 * before the first attempt, and every unanswered attempt arms it, so such a ghost is deleted once the
 * hold is released (by the confirmed delete of {@link leaving}, or the lease's end).
 *
 * @throws ConflictError when the session already has a participant in this barrier (another handle)
 * @throws UnavailableError / AbortedError from the create (its possible effect is cleaned up)
 */
export async function join(
  ctx: CoordContext,
  keys: BarrierKeys,
  name: string,
  session: Session,
  what: string,
  signal: AbortSignal,
): Promise<{ participant: Participant; present: number }> {
  const key = ctx.keyspace.key(`${name}/waiters/${leaseHex(session.leaseId)}`);
  const token = Buffer.from(randomBytes(12).toString('hex'));
  const sweeper = GhostSweeper.of(ctx);
  const hold = sweeper.hold(key);
  let joined = false;
  try {
    await sweeper.settled(key, signal);
    const arm = () => sweeper.arm(key, { leaseId: session.leaseId, alive: session.signal, what });
    const created = await createWaiter(
      ctx,
      keys,
      { key, lease: session.leaseId, token },
      what,
      signal,
      arm,
    ).catch(async (err: unknown) => {
      // The create may have applied without an answer: do not leave an extra participant behind.
      await deleteIfToken(ctx, key, token, `double barrier "${name}": remove key`);
      throw err;
    });
    if (!created) {
      throw new ConflictError(
        `${what}: session ${leaseHex(session.leaseId)} already has a participant in this barrier; use one session per participant`,
      );
    }
    // With the lease gone the key is gone too: nothing left to hold.
    const release = () => {
      session.signal.removeEventListener('abort', release);
      hold();
    };
    session.signal.addEventListener('abort', release, { once: true });
    joined = true;
    const participant: Participant = {
      key,
      createRevision: created.createRevision,
      lease: session.leaseId,
      alive: session.signal,
      hold: release,
    };
    return { participant, present: created.present };
  } finally {
    if (!joined) hold();
  }
}

/** The one retried delete of a participant's key (a repeat finds it gone and only lists). */
export function leaving(
  ctx: CoordContext,
  keys: BarrierKeys,
  name: string,
  participant: Participant,
): Release {
  const what = `double barrier "${name}": leave`;
  participant.leaving ??= new Release({
    what,
    alive: participant.alive,
    attempt: async (signal) => {
      participant.left = await deleteWaiter(ctx, keys, participant, what, signal, 0);
      participant.hold();
    },
  });
  return participant.leaving;
}
