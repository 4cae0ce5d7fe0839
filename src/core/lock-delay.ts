import type { IRequestOp } from 'etcd3';
import type { CoordContext } from './context.js';
import { sleep } from './deadline.js';
import { CompactedError } from './errors.js';
import { withRetry } from './retry.js';

/**
 * Lock-delay (Consul's session lock-delay, issue 14 f1): a waiter that becomes first because the previous
 * owner's lease *expired or was revoked* waits `lockDelayMs` before it is granted, so whatever the old
 * owner was doing (a paused process, a child that ignores SIGTERM) has time to stop. A clean release hands
 * over at once.
 *
 * How a waiter tells a clean release from an expiry: the clean release's txn, besides deleting the owner
 * key K at revision R, puts a *release marker* `<name>\0released` whose value is K (attached to the
 * releasing owner's lease). No valid name contains `\0`, so the marker is outside every recipe's key
 * range and cannot collide with a name. The waiter, woken by K's deletion at revision R, reads the marker
 * *at revision R*: "put at R, naming K" is a clean release; anything else — no marker, a marker for
 * another key, a compacted revision, a key deleted by `etcdctl lock`, by an operator or by the lease — is
 * treated as an expiry (conservative: the delay is only ever added, never skipped wrongly).
 *
 * Usage by a recipe (the Mutex does this; an election can do the same for its leader key):
 * 1. in the release txn's success branch (guarded by the owner key's create revision), add
 *    `releaseMarkerOp(marker, ownerKey, leaseId)`;
 * 2. when a waiter becomes first because `predecessor` was deleted at `deletedAt`, call
 *    `await applyLockDelay(ctx, { marker, predecessor, deletedAt, lockDelayMs, signal })`, then re-check
 *    that its own key still exists before reporting success.
 *
 * @example
 * ```ts
 * const marker = releaseMarkerKey(ctx.keyspace.key(name));
 * // release: txn(compare: [Create(K) == rev], success: [delete K, releaseMarkerOp(marker, K, leaseId)])
 * const delayed = await applyLockDelay(ctx, { marker, predecessor: K, deletedAt: R, lockDelayMs: 5000, signal });
 * ```
 *
 * Failure modes: a newcomer that arrives after the expiry, with nobody queued, finds no release to read
 * here; the Mutex and the Election cover it with their held marker (`core/held-marker.ts`). The delay runs on this process's clock from the moment the
 * waiter learned of the deletion, which is never before the deletion itself. Readers that need the
 * marker's revision must be able to read history at R: after a compaction past R the release counts as
 * an expiry.
 */

const MARKER_SUFFIX = Buffer.from('\0released');

/** The release marker key for a name whose full etcd key (namespace included, no trailing `/`) is `nameKey`. */
export function releaseMarkerKey(nameKey: Buffer): Buffer {
  return Buffer.concat([nameKey, MARKER_SUFFIX]);
}

/** The put to add to a clean release's txn (success branch): marks `ownerKey` as released cleanly. */
export function releaseMarkerOp(marker: Buffer, ownerKey: Buffer, leaseId: bigint): IRequestOp {
  return { request_put: { key: marker, value: ownerKey, lease: leaseId.toString() } };
}

/**
 * True when `predecessor`'s deletion at `deletedAt` was a clean release (see the module doc).
 *
 * @throws UnavailableError when etcd cannot be reached (retried within `signal`)
 * @throws AbortedError when `signal` aborts
 */
export async function wasCleanRelease(
  ctx: CoordContext,
  marker: Buffer,
  predecessor: Buffer,
  deletedAt: bigint,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  try {
    const res = await withRetry(
      () =>
        ctx.requester.run(
          'lock-delay: read release marker',
          (o) => ctx.client.kv.range({ key: marker, revision: deletedAt.toString() }, o),
          { signal },
        ),
      { signal, what: 'lock-delay' },
    );
    const kv = res.kvs[0];
    return kv !== undefined && BigInt(kv.mod_revision) === deletedAt && kv.value.equals(predecessor);
  } catch (err) {
    if (err instanceof CompactedError) return false;
    throw err;
  }
}

/** What {@link applyLockDelay} decides on. */
export interface LockDelaySpec {
  marker: Buffer;
  /** The owner key whose deletion made the caller first. */
  predecessor: Buffer;
  /** The revision of that deletion. */
  deletedAt: bigint;
  lockDelayMs: number;
  signal: AbortSignal | undefined;
}

/**
 * Waits `lockDelayMs` unless the predecessor's deletion was a clean release. Resolves with `true` when it
 * waited; the caller must then re-check that it still holds its position. No request with `lockDelayMs` 0.
 *
 * @throws AbortedError (or the signal's `CoordError` reason) when `signal` aborts during the read or delay
 */
export async function applyLockDelay(ctx: CoordContext, spec: LockDelaySpec): Promise<boolean> {
  if (spec.lockDelayMs <= 0) return false;
  if (await wasCleanRelease(ctx, spec.marker, spec.predecessor, spec.deletedAt, spec.signal)) return false;
  await sleep(spec.lockDelayMs, spec.signal, 'lock-delay');
  return true;
}
