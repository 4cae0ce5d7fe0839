import type { IKeyValue, IRangeRequest } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { isOwnerKey, ownerKeyRange } from '../core/keys.js';

/** Keys per page after the first, when non-candidate keys have to be skipped. */
const PAGE = 64;

/** Which way a scan of an election's keys goes, in create-revision order. */
export interface OwnerOrder {
  order: 'Ascend' | 'Descend';
  /** Only keys created at or before this revision (a campaign's predecessors). */
  maxCreateRevision?: bigint | undefined;
}

/**
 * @internal The range request for the keys of one election (`prefix` is the full `<name>/`) in create
 * order: etcd's owner range, which still holds keys of nested names such as `<name>/db/<lease hex>`.
 *
 * @example
 * ```ts
 * const req = ownerRange(prefix, { order: 'Ascend' }, 1, false); // the oldest key, probably the leader
 * ```
 */
export function ownerRange(
  prefix: Buffer,
  order: OwnerOrder,
  limit: number,
  keysOnly: boolean,
  from?: bigint,
  revision?: bigint,
): IRangeRequest {
  const range = ownerKeyRange(prefix);
  const req: IRangeRequest = {
    key: range.key,
    range_end: range.end,
    sort_target: 'Create',
    sort_order: order.order,
    limit,
    keys_only: keysOnly,
  };
  if (revision !== undefined) req.revision = revision.toString();
  if (order.order === 'Ascend') {
    if (from !== undefined) req.min_create_revision = from.toString();
    if (order.maxCreateRevision !== undefined) req.max_create_revision = order.maxCreateRevision.toString();
  } else {
    const max =
      from === undefined
        ? order.maxCreateRevision
        : order.maxCreateRevision === undefined || from < order.maxCreateRevision
          ? from
          : order.maxCreateRevision;
    if (max !== undefined) req.max_create_revision = max.toString();
  }
  return req;
}

/**
 * @internal Every key of the range in `order`, starting from a first page already read at `revision`;
 * further pages are read at that same revision, so the keys describe one moment. Keys created in one txn
 * share a create revision: a page boundary inside such a group is re-read from the group (its keys already
 * seen are skipped), with a larger page when one page is all group.
 *
 * @example
 * ```ts
 * for await (const kv of ownerScan(ctx, what, prefix, order, first, revision, true, signal)) …
 * ```
 *
 * @throws UnavailableError when etcd cannot be reached; CompactedError when `revision` was compacted meanwhile
 */
export async function* ownerScan(
  ctx: CoordContext,
  what: string,
  prefix: Buffer,
  order: OwnerOrder,
  first: { kvs: IKeyValue[]; more: boolean },
  revision: bigint,
  keysOnly: boolean,
  signal: AbortSignal | undefined,
): AsyncGenerator<{ kv: IKeyValue; onFirstPage: boolean }> {
  let page = first;
  let onFirstPage = true;
  let limit = PAGE;
  let bound: bigint | undefined;
  const seen = new Set<string>();
  for (;;) {
    for (const kv of page.kvs) {
      if (BigInt(kv.create_revision) === bound && seen.has(kv.key.toString('hex'))) continue;
      yield { kv, onFirstPage };
    }
    const last = page.kvs.at(-1);
    if (!page.more || !last) return;
    const lastRev = BigInt(last.create_revision);
    if (lastRev !== bound) {
      seen.clear();
      bound = lastRev;
    }
    for (const kv of page.kvs) if (BigInt(kv.create_revision) === bound) seen.add(kv.key.toString('hex'));
    // A page that is all one create revision makes no progress with the same size: widen it.
    limit = page.kvs.every((kv) => BigInt(kv.create_revision) === bound) ? limit * 2 : PAGE;
    const req = ownerRange(prefix, order, limit, keysOnly, bound, revision);
    page = await ctx.requester.run(what, (o) => ctx.client.kv.range(req, o), { signal });
    onFirstPage = false;
  }
}

/**
 * @internal The first candidate key (exactly `<name>/<lease hex>`, issue 16 f3) in `order`, given the first
 * page already read at `revision` (see {@link ownerScan}; later pages are keys only).
 *
 * @example
 * ```ts
 * const found = await firstOwner(ctx, what, prefix, { order: 'Ascend' }, firstPage, revision, signal);
 * ```
 *
 * @throws UnavailableError when etcd cannot be reached; CompactedError when `revision` was compacted meanwhile
 *
 * Failure modes: none beyond the reads'; a name with many nested keys costs one read per 64 of them.
 */
export async function firstOwner(
  ctx: CoordContext,
  what: string,
  prefix: Buffer,
  order: OwnerOrder,
  first: { kvs: IKeyValue[]; more: boolean },
  revision: bigint,
  signal: AbortSignal | undefined,
): Promise<{ kv: IKeyValue; onFirstPage: boolean } | undefined> {
  for await (const found of ownerScan(ctx, what, prefix, order, first, revision, true, signal))
    if (isOwnerKey(found.kv.key, prefix)) return found;
  return undefined;
}
