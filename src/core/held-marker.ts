import type { IRequestOp } from 'etcd3';
import type { CoordContext } from './context.js';
import { sleep } from './deadline.js';
import { withRetry } from './retry.js';

/**
 * The *held marker* of a mutex or an election with a lock-delay: `<name>\0held`, a key without a lease whose value is the
 * current holder's key. A holder writes it when granted; a clean `unlock()` deletes it in the unlock txn.
 * It lets a *newcomer* (granted at once, nobody queued) notice that the previous holder was lost rather
 * than released: the lock-delay's release marker only reaches a waiter that was queued behind the lost
 * holder (`core/lock-delay.ts`), and a lost holder's child may still run.
 *
 * Rule, for a newcomer granted at once: the marker exists and was not written for this grant (another key,
 * or written before my key was created) → the previous holder did not unlock cleanly → wait `lockDelayMs`
 * before reporting the grant, then re-check my key.
 *
 * @example
 * ```ts
 * const marker = heldMarkerKey(ctx.keyspace.key(name));
 * const lost = await recordHolder(ctx, marker, key, rev, signal); // at the grant
 * // unlock txn success branch: ...(marker ? [clearHolderOp(marker)] : [])
 * ```
 *
 * Failure modes: conservative only (a delay is added, never skipped wrongly): an unlock by a client that
 * does not delete the marker (`etcdctl lock`, Go, a mutex without `lockDelayMs`), or a marker put applied
 * after its holder's unlock (an unanswered attempt a paused member applied late), costs the next newcomer
 * one `lockDelayMs`. The marker outlives its holder (no lease) so that a revoked lease cannot erase it:
 * one small key per name, removed by every clean unlock.
 */

const HELD_SUFFIX = Buffer.from('\0held');

/** The held marker key for a name whose full etcd key (namespace included) is `nameKey`. */
export function heldMarkerKey(nameKey: Buffer): Buffer {
  return Buffer.concat([nameKey, HELD_SUFFIX]);
}

/** The delete to add to a clean unlock's txn (success branch, guarded by the holder key). */
export function clearHolderOp(marker: Buffer): IRequestOp {
  return { request_delete_range: { key: marker } };
}

/**
 * Writes `key` (created at `rev`) as the holder. Resolves `true` when the marker it replaced says the
 * previous holder was not released cleanly. Idempotent: a retried put sees its own earlier attempt
 * (same value, written after `rev`) and does not count it.
 *
 * @throws UnavailableError when etcd cannot be reached (retried within `signal`)
 * @throws AbortedError (or the signal's `CoordError` reason) when `signal` aborts
 */
export async function recordHolder(
  ctx: CoordContext,
  marker: Buffer,
  key: Buffer,
  rev: bigint,
  signal: AbortSignal,
): Promise<boolean> {
  const res = await withRetry(
    () =>
      ctx.requester.run(
        'lock-delay: record holder',
        (o) => ctx.client.kv.put({ key: marker, value: key, prev_kv: true }, o),
        { signal },
      ),
    { signal, what: 'lock-delay' },
  );
  const prev = res.prev_kv;
  if (!prev) return false;
  return !prev.value.equals(key) || BigInt(prev.mod_revision) < rev;
}

/** Waits `ms` when {@link recordHolder} found a lost previous holder. Resolves `true` when it waited. */
export async function newcomerDelay(
  ctx: CoordContext,
  marker: Buffer,
  key: Buffer,
  rev: bigint,
  ms: number,
  signal: AbortSignal,
): Promise<boolean> {
  if (!(await recordHolder(ctx, marker, key, rev, signal))) return false;
  await sleep(ms, signal, 'lock-delay');
  return true;
}
