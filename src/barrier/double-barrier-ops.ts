/**
 * The requests of the double barrier, each one txn (so each answer describes one revision) and each safe
 * to repeat after an unanswered attempt. Internal to `src/barrier/`.
 */
import type { ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { UnavailableError } from '../core/errors.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';

/** The keys of one double barrier: `<name>/waiters/<lease hex>` per participant, and `<name>/ready`. */
export interface BarrierKeys {
  /** `<name>/` — watched as a whole: waiters and ready. */
  prefix: { key: Buffer; end: Buffer };
  waiters: { key: Buffer; end: Buffer };
  ready: Buffer;
}

const EMPTY = Buffer.alloc(0);
const RETRIES = 5;

function run(
  ctx: CoordContext,
  what: string,
  signal: AbortSignal | undefined,
  txn: Parameters<CoordContext['client']['kv']['txn']>[0],
  retries = RETRIES,
  onUncertain?: () => void,
): Promise<ITxnResponse> {
  return withRetry(
    () =>
      ctx.requester
        .run(what, (o) => ctx.client.kv.txn(txn, o), { signal, write: true })
        .catch((err: unknown) => {
          if (err instanceof UnavailableError && err.mayHaveApplied) onUncertain?.();
          throw err;
        }),
    { signal, what, retries },
  );
}

function rangeOf(r: { key: Buffer; end: Buffer }, extra: { count_only?: boolean; keys_only?: boolean } = {}) {
  return { request_range: { key: r.key, range_end: r.end, ...extra } };
}

/**
 * Creates `key` under `lease` with `token` as its value if it does not exist, and counts the participants,
 * in one revision. A repeat after an unanswered attempt recognises its own token; a key with another token
 * (another handle on the same session) is `undefined`. `onUncertain` is told of every attempt that got no
 * answer (it may apply later: the caller arms the ghost sweeper).
 */
export async function createWaiter(
  ctx: CoordContext,
  keys: BarrierKeys,
  own: { key: Buffer; lease: bigint; token: Buffer },
  what: string,
  signal: AbortSignal,
  onUncertain?: () => void,
): Promise<{ createRevision: bigint; present: number } | undefined> {
  const { key } = own;
  const count = rangeOf(keys.waiters, { count_only: true });
  const res = await run(
    ctx,
    what,
    signal,
    {
      compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
      success: [{ request_put: { key, value: own.token, lease: own.lease.toString() } }, count],
      failure: [{ request_range: { key } }, count],
    },
    RETRIES,
    onUncertain,
  );
  const present = Number(res.responses[1]?.response_range.count ?? 0);
  if (res.succeeded) return { createRevision: headerRevision(res.header), present };
  const existing = res.responses[0]?.response_range.kvs[0];
  if (!existing || !Buffer.from(existing.value).equals(own.token)) return undefined;
  return { createRevision: BigInt(existing.create_revision), present };
}

/** Deletes `key` if it holds `token`: cleanup after a create whose answer never came. Best effort. */
export async function deleteIfToken(
  ctx: CoordContext,
  key: Buffer,
  token: Buffer,
  what: string,
): Promise<void> {
  try {
    await run(ctx, what, undefined, {
      compare: [{ key, target: 'Value', result: 'Equal', value: token }],
      success: [{ request_delete_range: { key } }],
    });
  } catch {
    // Unreachable: the key goes with its lease.
  }
}

/** Puts the ready key, only while our own key (created at `createRevision`) exists. False: our key is gone. */
export async function putReady(
  ctx: CoordContext,
  keys: BarrierKeys,
  own: { key: Buffer; createRevision: bigint; lease: bigint },
  what: string,
  signal: AbortSignal,
): Promise<boolean> {
  const res = await run(ctx, what, signal, {
    compare: [
      { key: own.key, target: 'Create', result: 'Equal', create_revision: own.createRevision.toString() },
    ],
    success: [{ request_put: { key: keys.ready, value: EMPTY, lease: own.lease.toString() } }],
  });
  return res.succeeded;
}

/** How many participants are inside, and the mod revision of the ready key (0n: absent), in one revision. */
export async function readState(
  ctx: CoordContext,
  keys: BarrierKeys,
  what: string,
  signal: AbortSignal,
): Promise<{ present: number; readyModRevision: bigint }> {
  const res = await withRetry(
    () =>
      ctx.requester.run(
        what,
        (o) =>
          ctx.client.kv.txn(
            {
              success: [rangeOf(keys.waiters, { count_only: true }), { request_range: { key: keys.ready } }],
            },
            o,
          ),
        { signal },
      ),
    { signal, what, retries: RETRIES },
  );
  const ready = res.responses[1]?.response_range.kvs[0];
  return {
    present: Number(res.responses[0]?.response_range.count ?? 0),
    readyModRevision: ready ? BigInt(ready.mod_revision || 0) : 0n,
  };
}

/**
 * Deletes our key if it still is the one we created, and lists the waiters left, in one revision. A repeat
 * finds the key gone and only lists. `retries`: attempts after the first (0 inside a `Release`, which
 * retries by itself).
 */
export async function deleteWaiter(
  ctx: CoordContext,
  keys: BarrierKeys,
  own: { key: Buffer; createRevision: bigint },
  what: string,
  signal: AbortSignal,
  retries = RETRIES,
): Promise<{ revision: bigint; others: Buffer[] }> {
  const list = rangeOf(keys.waiters, { keys_only: true });
  const res = await run(
    ctx,
    what,
    signal,
    {
      compare: [
        { key: own.key, target: 'Create', result: 'Equal', create_revision: own.createRevision.toString() },
      ],
      success: [{ request_delete_range: { key: own.key } }, list],
      failure: [list],
    },
    retries,
  );
  const kvs = res.responses.at(-1)?.response_range.kvs ?? [];
  return { revision: headerRevision(res.header), others: kvs.map((kv) => kv.key) };
}

/** The last one out removes the ready key, unless a new round has put it after `revision`. Best effort. */
export async function clearReady(
  ctx: CoordContext,
  keys: BarrierKeys,
  revision: bigint,
  what: string,
): Promise<void> {
  try {
    await ctx.requester.run(
      what,
      (o) =>
        ctx.client.kv.txn(
          {
            compare: [
              { key: keys.ready, target: 'Mod', result: 'Less', mod_revision: (revision + 1n).toString() },
            ],
            success: [{ request_delete_range: { key: keys.ready } }],
          },
          o,
        ),
      { write: true },
    );
  } catch {
    // A leftover ready key is harmless: participants pass `enter` only on a put made after they entered.
  }
}
