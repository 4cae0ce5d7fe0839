import type { ICompare, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { SessionExpiredError, UnavailableError, isTransient } from '../core/errors.js';
import { withRetry } from '../core/retry.js';
import { KeyConflictError } from './errors.js';
import { rawToPair, type KVPair } from './kv-pair.js';
import type { KVCallOptions } from './options.js';
import type { TtlLeases } from './ttl-leases.js';
import { pairAfterPut, withTtlLease } from './writes.js';

/* The Store's guarded writes: atomicPut and atomicDelete, each one txn. See `store.ts` for the contract. */

/** The guard: the key is absent (`previous` null), or its mod revision is still `previous.lastIndex`. */
function guard(full: Buffer, previous: KVPair | null): ICompare {
  return previous === null
    ? { key: full, target: 'Create', result: 'Equal', create_revision: '0' }
    : { key: full, target: 'Mod', result: 'Equal', mod_revision: previous.lastIndex.toString() };
}

/**
 * Runs a guarded txn, repeating it while etcd is unavailable (safe: a repeat of an applied attempt fails
 * its guard). What a failed guard means depends on the attempts before it: with none of unknown outcome
 * it is a {@link KeyConflictError} carrying the current pair; after one that got no answer, the key may
 * have changed *because of that attempt*, so it is an `UnavailableError` with `mayHaveApplied` instead of
 * a conflict that may be false. A repeat that succeeds proves the earlier attempts did not apply (and,
 * guarded on the old revision, they never will).
 */
async function guardedTxn<T>(
  ctx: CoordContext,
  what: string,
  attempt: (signal: AbortSignal) => Promise<ITxnResponse>,
  onSuccess: (res: ITxnResponse) => T,
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
      if (res.succeeded) return onSuccess(res);
      const raw = res.responses[0]?.response_range?.kvs[0];
      const current = raw ? rawToPair(raw, ctx.keyspace) : null;
      final = uncertain
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
    (signal) =>
      withTtlLease(leases, ttlSeconds, { signal }, (session) => {
        lease = session?.leaseId ?? 0n;
        return ctx.requester.run(
          what,
          (o) =>
            ctx.client.kv.txn(
              {
                compare: [guard(full, previous)],
                success: [
                  {
                    request_put: {
                      key: full,
                      value,
                      prev_kv: true,
                      ...(session ? { lease: lease.toString() } : {}),
                    },
                  },
                ],
                failure: [{ request_range: { key: full } }],
              },
              o,
            ),
          { write: true },
        );
      }),
    (res) => pairAfterPut(key, value, res.header, res.responses[0]?.response_put?.prev_kv, lease),
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
    () =>
      ctx.requester.run(
        what,
        (o) =>
          ctx.client.kv.txn(
            {
              compare: [guard(full, previous)],
              success: [{ request_delete_range: { key: full } }],
              failure: [{ request_range: { key: full } }],
            },
            o,
          ),
        { write: true },
      ),
    () => undefined,
    (current) =>
      current === null
        ? `the key is gone (expected mod revision ${previous.lastIndex})`
        : `the key was modified (mod revision ${current.lastIndex}, expected ${previous.lastIndex})`,
    opts,
  );
}
