import type { IKeyValue, IResponseHeader, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { raceAbort, withDeadline } from '../core/deadline.js';
import { SessionExpiredError, UnavailableError } from '../core/errors.js';
import { headerRevision } from '../core/kv.js';
import type { Session } from '../core/session.js';
import {
  ensureMarker,
  lessTime,
  markerIn,
  markerRange,
  stamp,
  stampedAbsent,
  withMarkerFallback,
} from './epoch-stamp.js';
import { rawToPair, type KVPair } from './kv-pair.js';
import { writeUnlessSent, type AttemptOptions, type KVCallOptions } from './options.js';
import type { TtlLeases } from './ttl-leases.js';

/* The Store's unconditional writes: put, delete, deleteTree. See `store.ts` for the contract. */

/** The pair a put left behind, from its header revision and the previous key (`prev_kv`) it returned. */
export function pairAfterPut(
  key: string,
  value: Buffer,
  header: IResponseHeader,
  prev: IKeyValue | null | undefined,
  leaseId: bigint,
): KVPair {
  const revision = headerRevision(header);
  // etcd returns no previous key for a new one: then this put created it, at this revision.
  const existed = prev !== null && prev !== undefined && prev.key !== undefined && prev.key.length > 0;
  return {
    key,
    value,
    lastIndex: revision,
    createRevision: existed ? BigInt(prev.create_revision) : revision,
    version: existed ? BigInt(prev.version) + 1n : 1n,
    leaseId,
  };
}

/**
 * The session for a TTL write (or none), and the error handling that goes with it: a put refused because
 * its lease is gone (`SessionExpiredError`: nothing was written) drops the lease, so the repeat grants a
 * new one. The wait for a lease counts against the attempt's deadline (`a.timeoutMs`, or the retry's scope).
 */
export async function withTtlLease<T>(
  leases: TtlLeases,
  ttlSeconds: number | undefined,
  a: AttemptOptions,
  fn: (session: Session | undefined, a: AttemptOptions) => Promise<T>,
): Promise<T> {
  if (ttlSeconds === undefined) return fn(undefined, a);
  const t0 = performance.now();
  const wait = withDeadline(a.signal, a.timeoutMs);
  let session: Session;
  try {
    session = await raceAbort(
      leases.acquire(ttlSeconds, wait.signal),
      wait.signal,
      'kv: lease',
      undefined,
      (ms) => new UnavailableError(`kv: no lease of ${ttlSeconds} s granted within ${ms} ms`),
    );
  } finally {
    wait.dispose();
  }
  const left = a.timeoutMs === undefined ? undefined : Math.max(1, a.timeoutMs - (performance.now() - t0));
  try {
    return await fn(session, { signal: a.signal, timeoutMs: left });
  } catch (err) {
    if (err instanceof SessionExpiredError) leases.drop(session);
    throw err;
  }
}

/** `kv.put`: one put (with `prev_kv`, to report the new pair). Not repeated once it may have been sent. */
export function putKey(
  ctx: CoordContext,
  leases: TtlLeases,
  key: string,
  full: Buffer,
  value: Buffer,
  ttlSeconds: number | undefined,
  opts: KVCallOptions,
): Promise<KVPair> {
  const what = `kv: put ${JSON.stringify(key)}`;
  return writeUnlessSent(
    ctx,
    what,
    (a) =>
      withTtlLease(leases, ttlSeconds, a, async (session, a2) => {
        const lease = session?.leaseId ?? 0n;
        const a3 = lessTime(a2, await ensureMarker(ctx, a2));
        // A txn without compare: the put, and the marker read at the same revision to stamp the pair.
        const res = await withMarkerFallback(ctx, () =>
          ctx.requester.run(
            what,
            (o) =>
              ctx.client.kv.txn(
                {
                  compare: [],
                  success: [
                    {
                      request_put: {
                        key: full,
                        value,
                        prev_kv: true,
                        ...(session ? { lease: lease.toString() } : {}),
                      },
                    },
                    ...markerRange(ctx),
                  ],
                  failure: [],
                },
                o,
              ),
            { ...a3, write: true },
          ),
        );
        const prev = res.responses[0]?.response_put?.prev_kv;
        return stamp(ctx, pairAfterPut(key, value, res.header, prev, lease), markerIn(ctx, res));
      }),
    opts,
    (err) => err instanceof SessionExpiredError,
  );
}

/**
 * `kv.get`'s one attempt: the key and the generation marker in one txn (one revision), so the pair is
 * stamped with its history. If the marker is missing it is created and the key read again, once.
 */
export async function getStamped(ctx: CoordContext, full: Buffer, a: AttemptOptions): Promise<KVPair | null> {
  const what = 'kv: get';
  const read = (o2: AttemptOptions) =>
    withMarkerFallback(ctx, () =>
      ctx.requester.run(
        what,
        (o) =>
          ctx.client.kv.txn(
            { compare: [], success: [{ request_range: { key: full } }, ...markerRange(ctx)], failure: [] },
            o,
          ),
        o2,
      ),
    );
  const t0 = performance.now();
  let res = await read(a);
  let pair = pairIn(ctx, res);
  if (stampedAbsent(pair)) {
    const spent = (await ensureMarker(ctx, lessTime(a, performance.now() - t0))) + performance.now() - t0;
    res = await read(lessTime(a, spent));
    pair = pairIn(ctx, res);
  }
  return pair;
}

function pairIn(ctx: CoordContext, res: ITxnResponse): KVPair | null {
  const raw = res.responses[0]?.response_range?.kvs[0];
  return stamp(ctx, raw ? rawToPair(raw, ctx.keyspace) : null, markerIn(ctx, res));
}

/** `kv.delete` / `kv.deleteTree`: one delete-range; the number of keys it deleted. */
export async function deleteRange(
  ctx: CoordContext,
  what: string,
  range: { key: Buffer; end?: Buffer | undefined },
  opts: KVCallOptions,
): Promise<number> {
  const res = await writeUnlessSent(
    ctx,
    what,
    (a) =>
      ctx.requester.run(
        what,
        (o) =>
          ctx.client.kv.deleteRange({ key: range.key, ...(range.end ? { range_end: range.end } : {}) }, o),
        { ...a, write: true },
      ),
    opts,
  );
  return Number(res.deleted);
}
