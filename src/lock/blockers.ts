import { SortOrder, SortTarget, type IKeyValue, type IRequestOp, type ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { withRetry } from '../core/retry.js';
import type { QueueSpec } from './queue.js';

/** How a blocker read is ordered and bounded. */
export interface BlockerQuery {
  /** Only keys created at or before this revision. */
  maxCreateRevision?: bigint | undefined;
  /** Newest first (nearest predecessors) instead of oldest first. */
  descending?: boolean | undefined;
  /** How many *owner* keys are wanted. */
  limit: number;
}

/** Owner keys in the query's order, and whether more exist beyond them. */
export interface Blockers {
  kvs: IKeyValue[];
  more: boolean;
}

/** The range request for {@link BlockerQuery}, to run inside a txn (keys only). */
export function blockersOp(spec: QueueSpec, q: BlockerQuery, minCreateRevision?: bigint): IRequestOp {
  return {
    request_range: {
      key: spec.blockers.key,
      range_end: spec.blockers.end,
      limit: q.limit,
      sort_target: SortTarget.Create,
      sort_order: q.descending ? SortOrder.Descend : SortOrder.Ascend,
      keys_only: true,
      ...(q.maxCreateRevision !== undefined ? { max_create_revision: q.maxCreateRevision.toString() } : {}),
      ...(minCreateRevision !== undefined ? { min_create_revision: minCreateRevision.toString() } : {}),
    },
  };
}

/** The key-values of the `i`-th response of a txn (a range). */
export function kvsOf(res: ITxnResponse, i: number): IKeyValue[] {
  return res.responses[i]?.response_range?.kvs ?? [];
}

/**
 * Completes a blocker read that came back in a txn (response `i`, served at `revision`): keeps only the
 * lock's own keys (`spec.isOwner`: `<name>/<lease hex>` for a mutex, never a nested name's
 * `<name>/<child>/…` — issue 16 f3) and, if nested names' keys took some of the `limit` places, reads
 * further at the same revision until it has `limit` owner keys or there are no more. Without nested names
 * it sends nothing.
 *
 * @example
 * ```ts
 * const res = await ctx.client.kv.txn({ compare: [], success: [{ request_range: { key } }, blockersOp(spec, q)] });
 * const { kvs, more } = await completeBlockers(ctx, spec, q, res, 1, headerRevision(res.header), signal);
 * ```
 *
 * @throws UnavailableError when a further page cannot be read; CompactedError if `revision` was compacted
 *
 * Failure modes: none beyond etcd's; keys that share a create revision (one txn's) are never cut at a
 * page boundary: the boundary revision is read whole.
 */
export async function completeBlockers(
  ctx: CoordContext,
  spec: QueueSpec,
  q: BlockerQuery,
  res: ITxnResponse,
  i: number,
  revision: bigint,
  signal: AbortSignal | undefined,
): Promise<Blockers> {
  let page = kvsOf(res, i);
  let more = res.responses[i]?.response_range?.more ?? false;
  const seen = new Set(page.map((kv) => kv.key.toString('hex')));
  const owners = page.filter((kv) => spec.isOwner(kv.key));
  const read = (op: IRequestOp) =>
    withRetry(
      () =>
        ctx.requester.run(
          `${spec.what}: read queue`,
          (o) => ctx.client.kv.range({ ...op.request_range!, revision: revision.toString() }, o),
          { signal },
        ),
      { signal, what: spec.what },
    );
  const add = (kvs: IKeyValue[]) => {
    for (const kv of kvs) {
      const id = kv.key.toString('hex');
      if (seen.has(id)) continue;
      seen.add(id);
      if (spec.isOwner(kv.key)) owners.push(kv);
    }
  };
  while (owners.length < q.limit && more && page.length > 0) {
    const last = BigInt(page[page.length - 1]!.create_revision);
    // The page may have cut the keys of one txn (a multi-permit acquisition's keys, a write lock and its
    // companion share one create revision): read that revision whole before moving past it. One
    // revision's keys are one txn's, so this read is small.
    add((await read(blockersOp(spec, { limit: 0, maxCreateRevision: last }, last))).kvs);
    if (owners.length >= q.limit) break;
    const next = q.descending
      ? blockersOp(spec, { ...q, maxCreateRevision: last - 1n })
      : blockersOp(spec, q, last + 1n);
    const r = await read(next);
    page = r.kvs;
    more = r.more;
    add(page);
  }
  return { kvs: owners.slice(0, q.limit), more: more || owners.length > q.limit };
}
