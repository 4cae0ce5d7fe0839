import type { ICompare, IRequestOp, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { SessionExpiredError, UnavailableError, isTransient } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { KeyConflictError } from './errors.js';
import {
  ensureMarker,
  markerGuard,
  markerIn,
  markerMoved,
  markerRange,
  stamp,
  withMarkerFallback,
} from './epoch-stamp.js';
import { rawToPair, type KVPair } from './kv-pair.js';
import type { KVCallOptions } from './options.js';
import type { TtlLeases } from './ttl-leases.js';
import { pairAfterPut, withTtlLease } from './writes.js';

/* The Store's guarded writes: atomicPut and atomicDelete, each one txn. See `store.ts` for the contract. */

/**
 * The guard: the key is absent (`previous` null), or its mod revision is still `previous.lastIndex` *in
 * the history `previous` was read in* (the generation marker unchanged: a revision number reused after an
 * empty-data restart does not pass).
 */
function guard(ctx: CoordContext, full: Buffer, previous: KVPair | null): ICompare[] {
  const own: ICompare =
    previous === null
      ? { key: full, target: 'Create', result: 'Equal', create_revision: '0' }
      : { key: full, target: 'Mod', result: 'Equal', mod_revision: previous.lastIndex.toString() };
  return [own, ...markerGuard(ctx, previous)];
}

/** One guarded txn: `op` if the guard holds, else a read of the key; the marker read either way. */
function txn(
  ctx: CoordContext,
  what: string,
  full: Buffer,
  previous: KVPair | null,
  op: IRequestOp,
): Promise<ITxnResponse> {
  return withMarkerFallback(ctx, () =>
    ctx.requester.run(
      what,
      (c) =>
        ctx.client.kv.txn(
          {
            compare: guard(ctx, full, previous),
            success: [op, ...markerRange(ctx)],
            failure: [{ request_range: { key: full } }, ...markerRange(ctx)],
          },
          c,
        ),
      { write: true },
    ),
  );
}

/**
 * Runs a guarded txn, repeating it while etcd is unavailable (safe: a repeat of an applied attempt fails
 * its guard). What a failed guard means depends on the attempts before it: with none of unknown outcome
 * it is a {@link KeyConflictError} carrying the current pair; after one that got no answer, the key may
 * have changed *because of that attempt*, so it is an `UnavailableError` with `mayHaveApplied` instead of
 * a conflict that may be false. A guard that failed on the generation marker (etcd lost its data since
 * `previous` was read) is a conflict either way. A repeat that succeeds proves the earlier attempts did not
 * apply; guarded on the old mod revision they never will, but a *create* guarded on "absent" is true again
 * once the key is deleted: `onSuccess` learns whether an earlier attempt got no answer.
 */
async function guardedTxn<T>(
  ctx: CoordContext,
  what: string,
  previous: KVPair | null,
  attempt: (signal: AbortSignal) => Promise<ITxnResponse>,
  onSuccess: (res: ITxnResponse, uncertain: boolean) => T,
  describe: (current: KVPair | null) => string,
  opts: KVCallOptions,
): Promise<T> {
  let uncertain = false;
  let final: Error | undefined;
  return withRetry(
    async (_n, { signal }) => {
      let res: ITxnResponse;
      try {
        res = await attempt(signal);
      } catch (err) {
        if (err instanceof UnavailableError && err.mayHaveApplied) uncertain = true;
        throw err;
      }
      if (res.succeeded) return onSuccess(res, uncertain);
      const raw = res.responses[0]?.response_range?.kvs[0];
      const current = stamp(ctx, raw ? rawToPair(raw, ctx.keyspace) : null, markerIn(ctx, res));
      const reset = markerMoved(ctx, previous, res);
      final = reset
        ? new KeyConflictError(
            `${what}: the namespace's generation marker changed since \`previous\` was read: etcd lost ` +
              `its data (revisions started over, so revision ${previous?.lastIndex} may name another ` +
              `write), or \`previous\` was read before the marker existed; re-read the key`,
            current,
          )
        : uncertain
          ? new UnavailableError(
              `${what}: an earlier attempt got no answer and the key is no longer as \`previous\` said ` +
                `(that attempt may have been applied)`,
              { mayHaveApplied: true },
            )
          : new KeyConflictError(`${what}: ${describe(current)}`, current);
      throw final;
    },
    {
      signal: opts.signal,
      timeoutMs: opts.timeoutMs ?? ctx.requester.requestTimeoutMs,
      what,
      shouldRetry: (err) => err !== final && (isTransient(err) || err instanceof SessionExpiredError),
    },
  );
}

/** `kv.atomicPut`: put only if the key is still `previous` (`null`: only if absent). */
export function atomicPut(
  ctx: CoordContext,
  leases: TtlLeases,
  key: string,
  full: Buffer,
  value: Buffer,
  previous: KVPair | null,
  ttlSeconds: number | undefined,
  opts: KVCallOptions,
): Promise<KVPair> {
  const what = `kv: atomicPut ${JSON.stringify(key)}`;
  let lease = 0n;
  return guardedTxn(
    ctx,
    what,
    previous,
    (signal) =>
      withTtlLease(leases, ttlSeconds, { signal }, async (session, a) => {
        lease = session?.leaseId ?? 0n;
        const put: IRequestOp = {
          request_put: { key: full, value, prev_kv: true, ...(session ? { lease: lease.toString() } : {}) },
        };
        await ensureMarker(ctx, a);
        return txn(ctx, what, full, previous, put);
      }),
    (res, uncertain) => {
      const prev = res.responses[0]?.response_put?.prev_kv;
      const pair = stamp(ctx, pairAfterPut(key, value, res.header, prev, lease), markerIn(ctx, res));
      // An unanswered attempt of a create may still apply once the key is deleted: say so (docs/kv.md).
      if (previous === null && uncertain) pair.mayReapply = true;
      return pair;
    },
    (current) =>
      previous === null
        ? `the key already exists (mod revision ${current?.lastIndex ?? '?'})`
        : current === null
          ? `the key was deleted since revision ${previous.lastIndex}`
          : `the key was modified (mod revision ${current.lastIndex}, expected ${previous.lastIndex})`,
    opts,
  );
}

/** `kv.atomicDelete`: delete only if the key is still `previous`. */
export async function atomicDelete(
  ctx: CoordContext,
  key: string,
  full: Buffer,
  previous: KVPair,
  opts: KVCallOptions,
): Promise<void> {
  const what = `kv: atomicDelete ${JSON.stringify(key)}`;
  await guardedTxn(
    ctx,
    what,
    previous,
    () => txn(ctx, what, full, previous, { request_delete_range: { key: full } }),
    () => undefined,
    (current) =>
      current === null
        ? `the key is gone (expected mod revision ${previous.lastIndex})`
        : `the key was modified (mod revision ${current.lastIndex}, expected ${previous.lastIndex})`,
    opts,
  );
}
