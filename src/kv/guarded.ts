import type { ICompare, IRequestOp, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { LockLostError, SessionExpiredError, UnavailableError, isTransient } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import type { Lock } from '../lock/index.js';
import { ensureMarker, markerIn, markerRange, stamp, withMarkerFallback } from './epoch-stamp.js';
import { KeyConflictError } from './errors.js';
import { rawToPair, type KVPair } from './kv-pair.js';
import type { KVCallOptions } from './options.js';
import type { TtlLeases } from './ttl-leases.js';
import { pairAfterPut, withTtlLease } from './writes.js';

/* The Store's writes with `{ guard }` (issue 24): `kv.put` and `kv.delete` in one txn with the guard's compare. */

/**
 * A holder that can guard a write: a {@link Lock} (from `coord.mutex(name).lock()`, `kv.lock()`, a
 * semaphore permit…) or an election `Term`. Its `guardCompare()` is the comparator "my key still exists
 * with my create revision (= `fencingToken`)", the one `lock.guard()` hands to etcd3's builder.
 */
export interface GuardHolder {
  /** The holder's key, relative to the namespace (for messages). */
  readonly key: string;
  /** The create revision of the holder's key. */
  readonly fencingToken: bigint;
  /** "I still hold it" as a raw etcd `Compare`. */
  guardCompare(): ICompare;
}

/**
 * What a guarded `kv.put` / `kv.delete` checks, in the same txn as the write:
 *
 * - a {@link Lock} or election `Term`: the holder's key still exists with its create revision equal to
 *   its `fencingToken` (the comparator of `lock.guard()` / `term.guard()`): the holder has not unlocked or
 *   resigned, and its lease has not expired or been revoked;
 * - a `bigint` revision `r`: the written key's **mod revision** (`KVPair.lastIndex`, the revision of its
 *   last put) is exactly `r` now; `0n` means "the key does not exist" (etcd compares a missing key's mod
 *   revision as 0), so `{ guard: 0n }` is create-only. Compared on the revision number alone: unlike
 *   `atomicPut` with a pair from `get`, it cannot tell a revision number reused after etcd lost its data.
 *
 * @example
 * ```ts
 * await coord.kv.put('jobs/nightly/state', 'step-2', { guard: lock }); // LockLostError once the lock is lost
 * const pair = await coord.kv.put('config/v', '1', { guard: 0n });     // create only
 * await coord.kv.put('config/v', '2', { guard: pair.lastIndex });      // KeyConflictError if it changed
 * ```
 *
 * Failure modes (unknown outcome): a guarded write is repeated while etcd is unavailable, within
 * `timeoutMs`: a repeat writes the same value, and only while the guard still holds. An attempt whose
 * answer was lost may still be applied by etcd *later*, but only if its guard holds at that moment (the
 * compare is evaluated when it applies): with a Lock/Term, while this holder still holds — so it can land
 * after this holder's own later writes to the key, never after a later holder's; the pair then says
 * `mayReapply: true`, and the holder should re-read before writing that key again. With a revision
 * `r > 0n` a late attempt can never land once the key moved past `r`; with `0n` it can re-create the key
 * after a delete (`mayReapply`, as `atomicPut(key, v, null)`). A repeat whose guard fails after an
 * unanswered attempt is an `UnavailableError` with `mayHaveApplied`, never a false LockLostError/conflict.
 */
export type WriteGuard = Lock | GuardHolder | bigint;

/** A guard checked and turned into its compare. */
export type CheckedGuard =
  | { kind: 'holder'; compare: ICompare; holder: GuardHolder }
  | { kind: 'revision'; compare: ICompare; revision: bigint };

const MAX_REVISION = 2n ** 63n - 1n;

/**
 * Checks `guard` before any request; `undefined` when there is none.
 *
 * @throws TypeError naming `guard` for anything but a Lock/Term (an object with `guardCompare()` whose
 *   compare is its key's create revision == its `fencingToken`) or a revision bigint in [0, 2^63)
 */
export function checkGuard(guard: unknown, full: Buffer): CheckedGuard | undefined {
  if (guard === undefined) return undefined;
  if (typeof guard === 'bigint') {
    if (guard < 0n || guard > MAX_REVISION)
      throw new TypeError(`Expected \`guard\` to be a revision ≥ 0n (0n: absent), got ${guard}n`);
    return {
      kind: 'revision',
      revision: guard,
      compare: { key: full, target: 'Mod', result: 'Equal', mod_revision: guard.toString() },
    };
  }
  const h = guard as Partial<GuardHolder> | null;
  if (
    typeof h === 'object' &&
    h !== null &&
    typeof h.guardCompare === 'function' &&
    typeof h.fencingToken === 'bigint' &&
    typeof h.key === 'string'
  ) {
    const compare = h.guardCompare();
    // The holder's own comparator, reused as is; checked so that a look-alike cannot pass a weaker one.
    if (
      compare.target === 'Create' &&
      compare.result === 'Equal' &&
      compare.create_revision === h.fencingToken.toString()
    )
      return { kind: 'holder', compare, holder: h as GuardHolder };
  }
  throw new TypeError(
    'Expected `guard` to be a Lock, an election Term or a mod revision (bigint ≥ 0n), got ' +
      (guard === null ? 'null' : typeof guard === 'object' ? 'another object' : typeof guard),
  );
}

/**
 * Runs one guarded txn (`op` and the marker read if the guard holds, else a read of the key), repeated
 * while etcd is unavailable within the call's deadline. A repeat is safe because of the guard: while it
 * holds, the holder rewrites its own value (a revision guard fails after an applied attempt, and then says
 * so). A failed guard with no earlier attempt of unknown outcome wrote nothing: LockLostError (Lock/Term)
 * or KeyConflictError (revision). After an attempt that got no answer, a failed guard may be that attempt's
 * doing: an `UnavailableError` with `mayHaveApplied`. `onSuccess` learns whether such an attempt was made.
 */
async function guardedWrite<T>(
  ctx: CoordContext,
  what: string,
  full: Buffer,
  guard: CheckedGuard,
  attempt: (signal: AbortSignal, txn: (op: IRequestOp) => Promise<ITxnResponse>) => Promise<ITxnResponse>,
  onSuccess: (res: ITxnResponse, uncertain: boolean) => T,
  opts: KVCallOptions,
): Promise<T> {
  const txn = (op: IRequestOp) =>
    withMarkerFallback(ctx, () =>
      ctx.requester.run(
        what,
        (c) =>
          ctx.client.kv.txn(
            {
              compare: [guard.compare],
              success: [op, ...markerRange(ctx)],
              failure: [{ request_range: { key: full } }, ...markerRange(ctx)],
            },
            c,
          ),
        { write: true },
      ),
    );
  let uncertain = false;
  let final: Error | undefined;
  return withRetry(
    async (_n, { signal }) => {
      let res: ITxnResponse;
      try {
        res = await attempt(signal, txn);
      } catch (err) {
        if (err instanceof UnavailableError && err.mayHaveApplied) uncertain = true;
        throw err;
      }
      if (res.succeeded) {
        try {
          return onSuccess(res, uncertain);
        } catch (err) {
          final = err as Error; // a verdict on this answer, not a reason to repeat
          throw err;
        }
      }
      const raw = res.responses[0]?.response_range?.kvs[0];
      const current = stamp(ctx, raw ? rawToPair(raw, ctx.keyspace) : null, markerIn(ctx, res));
      final = uncertain
        ? new UnavailableError(
            `${what}: an earlier attempt got no answer and the guard no longer holds (that attempt may have been applied)`,
            { mayHaveApplied: true },
          )
        : guard.kind === 'holder'
          ? new LockLostError(
              `${what}: the guard "${guard.holder.key}" is no longer held (its key is gone or has another ` +
                `create revision than ${guard.holder.fencingToken}: unlocked, resigned, or its lease expired ` +
                `or was revoked); nothing was written`,
            )
          : new KeyConflictError(
              `${what}: the guard expected mod revision ${guard.revision}${guard.revision === 0n ? ' (absent)' : ''}, ` +
                `the key is ${current === null ? 'absent' : `at mod revision ${current.lastIndex}`}; nothing was written`,
              current,
            );
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

/** `kv.put(key, value, { guard })`: the put (with `prev_kv`, for the pair) only while the guard holds. */
export function guardedPut(
  ctx: CoordContext,
  leases: TtlLeases,
  key: string,
  full: Buffer,
  value: Buffer,
  guard: CheckedGuard,
  ttlSeconds: number | undefined,
  opts: KVCallOptions,
): Promise<KVPair> {
  const what = `kv: put ${JSON.stringify(key)} (guarded)`;
  let lease = 0n;
  return guardedWrite(
    ctx,
    what,
    full,
    guard,
    (signal, txn) =>
      withTtlLease(leases, ttlSeconds, { signal }, async (session, a) => {
        lease = session?.leaseId ?? 0n;
        await ensureMarker(ctx, a);
        return txn({
          request_put: { key: full, value, prev_kv: true, ...(session ? { lease: lease.toString() } : {}) },
        });
      }),
    (res, uncertain) => {
      const prev = res.responses[0]?.response_put?.prev_kv;
      const pair = stamp(ctx, pairAfterPut(key, value, res.header, prev, lease), markerIn(ctx, res));
      // An unanswered attempt may still be applied later whenever its guard holds then: for a Lock/Term,
      // while the holder still holds (after its later writes to this key); for `0n`, once the key is
      // deleted. A guard on a revision > 0 can never hold again once this attempt moved the key past it.
      if (uncertain && (guard.kind === 'holder' || guard.revision === 0n)) pair.mayReapply = true;
      return pair;
    },
    opts,
  );
}

/** `kv.delete(key, { guard })`: the delete only while the guard holds; `true` when the key existed. */
export function guardedDelete(
  ctx: CoordContext,
  key: string,
  full: Buffer,
  guard: CheckedGuard,
  opts: KVCallOptions,
): Promise<boolean> {
  const what = `kv: delete ${JSON.stringify(key)} (guarded)`;
  return guardedWrite(
    ctx,
    what,
    full,
    guard,
    (_signal, txn) => txn({ request_delete_range: { key: full } }),
    (res, uncertain) => {
      const deleted = BigInt(res.responses[0]?.response_delete_range?.deleted ?? '0') > 0n;
      // Nothing left to delete after an unanswered attempt: that attempt may have been the delete.
      if (!deleted && uncertain)
        throw new UnavailableError(
          `${what}: the key is absent now; an earlier attempt got no answer and may have been applied`,
          { mayHaveApplied: true },
        );
      return deleted;
    },
    opts,
  );
}
