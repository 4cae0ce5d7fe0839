import type { IRequestOp } from 'etcd3';
import type { CoordContext } from './context.js';

/** Which incarnation of a key one delete attempt may remove. */
export type DeleteGuard =
  /** The key as created at this revision (the create's answer was received). */
  | { createRevision: bigint }
  /**
   * Whatever key of ours is there now (the create's answer was lost): read it, and delete it only as
   * created at the revision just read, and only if it carries this lease.
   */
  | { leaseId: bigint };

/** Options of {@link deleteGuarded}. */
export interface GuardedDeleteOptions {
  signal?: AbortSignal | undefined;
  /** Ops committed in the same txn when the delete applies (a release marker, see `core/lock-delay.ts`). */
  alsoOnSuccess?: IRequestOp[] | undefined;
  /**
   * Ops committed in the same txn whether or not the guard holds: deletes of keys unique to the same
   * acquisition (a multi-permit semaphore's other keys, a write lock's companion read key), which must go
   * even when the guarded key was deleted by someone else.
   */
  alsoAlways?: IRequestOp[] | undefined;
}

/**
 * One attempt to delete a key of ours that may be retried, or land late, after the same key was created
 * again: always guarded by the key's **create revision**, never only by its lease. A key re-created since on
 * the same lease (the next `lock()`/`campaign()` of one session on one name writes the same `<name>/<lease
 * hex>` key; registrations of one TTL share one pooled lease) has the same name and lease but a new create
 * revision, so an old attempt applied late fails its compare instead of deleting the live key.
 *
 * With `{ leaseId }` the attempt first reads the key (one range, under the same request deadline as the
 * txn): absent or another lease's → nothing to delete (a put of ours that applies later is the ghost
 * sweeper's); ours → deleted with `Create == <the create revision just read>`. Each attempt is idempotent,
 * so a {@link Release} may repeat it.
 *
 * @example
 * ```ts
 * await deleteGuarded(ctx, 'mutex "a": remove waiter key', key, { createRevision: rev });
 * await deleteGuarded(ctx, 'election "a": withdraw', key, { leaseId: session.leaseId }); // put of unknown outcome
 * ```
 *
 * @returns true if this attempt deleted the key (false: it was already gone, or is another's incarnation)
 * @throws UnavailableError when etcd does not answer within the request deadline (a txn sent may apply
 *   later — harmlessly, by its create-revision guard)
 *
 * Failure modes: etcd unreachable → rejects within one request deadline; the caller retries. Caveat for
 * `{ leaseId }`: it deletes whatever key of ours is there when it reads, so the caller must not create the
 * key again before this delete is confirmed (the in-process turn, `core/local-turn.ts`, ensures that).
 */
export async function deleteGuarded(
  ctx: CoordContext,
  what: string,
  key: Buffer,
  guard: DeleteGuard,
  opts: GuardedDeleteOptions = {},
): Promise<boolean> {
  const { client, requester } = ctx;
  const { signal } = opts;
  let createRevision: bigint;
  let timeoutMs: number | undefined;
  if ('createRevision' in guard) createRevision = guard.createRevision;
  else {
    // Read and delete share one request deadline, as one attempt.
    const expiresAt = performance.now() + requester.requestTimeoutMs;
    const res = await requester.run(`${what}: read key`, (o) => client.kv.range({ key }, o), {
      signal,
    });
    const kv = res.kvs[0];
    // Absent: the create (which makes every key of the acquisition in one txn) never applied, or applies
    // later (the ghost sweeper's); there is nothing of `alsoAlways` to delete either.
    if (!kv || BigInt(kv.lease || 0) !== guard.leaseId) return false;
    createRevision = BigInt(kv.create_revision);
    timeoutMs = Math.max(1, expiresAt - performance.now());
  }
  const res = await requester.run(
    `${what}: delete key`,
    (o) =>
      client.kv.txn(
        {
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: createRevision.toString() }],
          success: [
            { request_delete_range: { key } },
            ...(opts.alsoOnSuccess ?? []),
            ...(opts.alsoAlways ?? []),
          ],
          failure: [...(opts.alsoAlways ?? [])],
        },
        o,
      ),
    { signal, write: true, timeoutMs },
  );
  return res.succeeded;
}
