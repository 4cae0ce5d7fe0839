import type { ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { withDeadline } from '../core/deadline.js';
import { EPOCH_KEY, ensureEpochMarker, historyCompare, historyReadOp } from '../core/epoch.js';
import { PermissionDeniedError } from '../core/errors.js';
import type { KVPair } from './kv-pair.js';
import type { AttemptOptions } from './options.js';

/*
 * Which history a pair was read in. A mod revision alone does not say: after an empty-data restart
 * revisions start over, and another write can land at the very revision an old pair names, so a
 * compare-and-set guarded on `Mod == lastIndex` alone would overwrite a value it never saw. Every pair the
 * Store reads or writes carries the namespace's generation marker (src/core/epoch.ts) as it was *in the
 * same txn*, and `atomicPut`/`atomicDelete` with such a pair also compare the marker, server-side: a reset
 * between the read and the write — or between the check and the write — fails the guard.
 *
 * The stamp is kept beside the pair (a WeakMap), not in it: a pair the caller built or copied has none and
 * is compared on its revision alone (documented in docs/kv.md).
 */

/** The marker's value when the pair was read, or `null`: the marker did not exist at that revision. */
type Stamp = Buffer | null;

const stamps = new WeakMap<KVPair, Stamp>();

interface State {
  /** The user may not read the marker (RBAC): fall back to revision-only guards. */
  unsupported: boolean;
  /** The marker was seen (or created) by this coordinator and not found missing since. */
  ensured: boolean;
}

const states = new WeakMap<CoordContext, State>();

function state(ctx: CoordContext): State {
  let s = states.get(ctx);
  if (!s) {
    s = { unsupported: false, ensured: false };
    states.set(ctx, s);
  }
  return s;
}

function markerKey(ctx: CoordContext): Buffer {
  return ctx.keyspace.key(EPOCH_KEY);
}

/** Whether the Store's txns read and compare the marker on this coordinator. */
export function stamping(ctx: CoordContext): boolean {
  return !state(ctx).unsupported;
}

/** The op that reads the marker in a txn (appended last), when stamping. */
export function markerRange(ctx: CoordContext): IRequestOp[] {
  return stamping(ctx) ? [historyReadOp(markerKey(ctx))] : [];
}

/**
 * The compare that keeps a guarded write in `previous`'s history: the marker still holds the value it held
 * when `previous` was read (or is still absent). None for an unstamped pair, or when stamping is off.
 */
export function markerGuard(ctx: CoordContext, previous: KVPair | null): ICompare[] {
  if (previous === null || !stamping(ctx) || !stamps.has(previous)) return [];
  return [historyCompare(markerKey(ctx), stamps.get(previous)!)];
}

/** The marker as the txn's last response (from {@link markerRange}) read it. */
export function markerIn(ctx: CoordContext, res: ITxnResponse): IKeyValue | undefined {
  if (!stamping(ctx)) return undefined;
  const last = res.responses[res.responses.length - 1]?.response_range;
  return last?.kvs[0];
}

/** Records the history `pair` was read in, from the marker read in the same txn. Returns the pair. */
export function stamp<P extends KVPair | null>(ctx: CoordContext, pair: P, marker: IKeyValue | undefined): P {
  if (pair === null || !stamping(ctx)) return pair;
  stamps.set(pair, marker ? Buffer.from(marker.value) : null);
  if (!marker) state(ctx).ensured = false;
  return pair;
}

/** Whether the pair's stamp is "the marker was absent" (worth creating the marker and reading again). */
export function stampedAbsent(pair: KVPair | null): boolean {
  return pair !== null && stamps.get(pair) === null;
}

/** Whether a guard that failed may have failed on the marker (another history), not on the key. */
export function markerMoved(ctx: CoordContext, previous: KVPair | null, res: ITxnResponse): boolean {
  if (previous === null || !stamps.has(previous) || !stamping(ctx)) return false;
  const before = stamps.get(previous)!;
  const now = markerIn(ctx, res);
  return before === null ? now !== undefined : !now || !Buffer.from(now.value).equals(before);
}

/**
 * Makes sure the marker exists before a write or read that will stamp its result, once per coordinator
 * (and again after a reply showed it missing). Best effort within the attempt's deadline: a failure leaves
 * the result stamped "absent", which a later guard treats conservatively. Returns the time it took.
 */
export async function ensureMarker(ctx: CoordContext, a: AttemptOptions): Promise<number> {
  const s = state(ctx);
  if (s.ensured || s.unsupported) return 0;
  const t0 = performance.now();
  const wait = withDeadline(a.signal, a.timeoutMs === undefined ? undefined : a.timeoutMs / 2);
  try {
    await ensureEpochMarker(ctx.client, ctx.requester, markerKey(ctx), wait.signal);
    s.ensured = true;
  } catch (err) {
    if (err instanceof PermissionDeniedError) s.unsupported = true;
  } finally {
    wait.dispose();
  }
  return performance.now() - t0;
}

/** `a` with `spent` ms taken off its deadline. */
export function lessTime(a: AttemptOptions, spent: number): AttemptOptions {
  return a.timeoutMs === undefined ? a : { ...a, timeoutMs: Math.max(1, a.timeoutMs - spent) };
}

/**
 * Runs a txn that reads or compares the marker; if the user may not touch the marker (permission denied),
 * turns stamping off for this coordinator and runs it again without (a refused txn applied nothing).
 */
export async function withMarkerFallback<T>(ctx: CoordContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof PermissionDeniedError) || !stamping(ctx)) throw err;
    state(ctx).unsupported = true;
    try {
      return await fn();
    } catch (again) {
      // Refused for another reason than the marker: stamping stays off only if it was the marker.
      if (again instanceof PermissionDeniedError) state(ctx).unsupported = false;
      throw again;
    }
  }
}
