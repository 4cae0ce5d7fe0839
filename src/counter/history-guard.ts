import type { ICompare, IRequestOp, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { EPOCH_KEY, ensureEpochMarker, historyCompare, historyReadOp } from '../core/epoch.js';
import { PermissionDeniedError } from '../core/errors.js';

/**
 * Which store history a counter value was read in: the namespace's generation marker (core/epoch.ts) as it
 * was in the same txn (`null`: absent; `undefined`: not known, compare on the revision alone). A mod
 * revision alone does not say: after an empty-data restart revisions start over, and another write can
 * land at the very revision a cached value names, so `Mod == seen` would pass with the old value and
 * overwrite the new history (10 + 1 = 11 over the new store's 1000). The compare-and-set also compares
 * the marker, server-side, so a reset between the read and the write fails the guard.
 *
 * @example
 * ```ts
 * await guard.ensure(signal);                 // once: the marker exists, so "absent" means "another store"
 * txn({ compare: [modEquals, ...guard.compare(seen.stamp)], success: [put], failure: [get, guard.readOp()] })
 * ```
 *
 * Failure modes: a user who may not read the marker (RBAC) gets revision-only guards (`ensure` turns the
 * guard off on `PermissionDeniedError`); an `ensure` that cannot reach etcd leaves it to the next call.
 */
export class HistoryGuard {
  readonly #ctx: CoordContext;
  readonly #key: Buffer;
  #ensured = false;
  #off = false;

  constructor(ctx: CoordContext) {
    this.#ctx = ctx;
    this.#key = ctx.keyspace.key(EPOCH_KEY);
  }

  /** Creates the marker if it is missing (once per handle, and again after a reply showed it missing). */
  async ensure(signal: AbortSignal | undefined): Promise<void> {
    if (this.#ensured || this.#off) return;
    try {
      await ensureEpochMarker(this.#ctx.client, this.#ctx.requester, this.#key, signal);
      this.#ensured = true;
    } catch (err) {
      if (err instanceof PermissionDeniedError) this.#off = true;
      else throw err;
    }
  }

  /** The read of the marker to add to a txn's ops (last), or none when the guard is off. */
  readOp(): IRequestOp[] {
    return this.#off ? [] : [historyReadOp(this.#key)];
  }

  /** The marker as response `index` of `res` read it (see {@link readOp}). */
  stampIn(res: ITxnResponse, index: number): Buffer | null | undefined {
    if (this.#off) return undefined;
    const range = res.responses[index]?.response_range;
    if (!range) return undefined;
    const kv = range.kvs[0];
    if (!kv) this.#ensured = false;
    return kv ? Buffer.from(kv.value) : null;
  }

  /** The compare that keeps a write in the history `stamp` was read in. */
  compare(stamp: Buffer | null | undefined): ICompare[] {
    if (this.#off || stamp === undefined) return [];
    return [historyCompare(this.#key, stamp)];
  }
}
