import { SortOrder, SortTarget, type IKeyValue, type IRangeRequest } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { CompactedError } from '../core/errors.js';
import { headerRevision } from '../core/kv.js';

/** One holder or waiter of an RW lock or a semaphore (one acquisition). */
export interface LockParticipant {
  /** Its key, relative to the namespace (for a semaphore with several permits, the first of its keys). */
  key: string;
  /** The create revision of its key(s): its place in the queue, and its fencing token once granted. */
  fencingToken: bigint;
  /** The session lease its keys are attached to. */
  leaseId: bigint;
  /** RW lock only: `write` for a write lock (held or waited for), `read` for a read lock or a downgrade. */
  mode?: 'read' | 'write';
  /** Semaphore only: how many permits it holds or waits for. */
  permits?: number;
}

/** Keys per page of a participant read. */
const PAGE = 1000;

/** The owner keys of one acquisition: created in one txn, so with one create revision. */
export interface Group {
  readonly createRevision: bigint;
  readonly kvs: IKeyValue[];
}

/**
 * Every acquisition queued under `range` (its owner keys grouped by create revision), oldest first, read
 * at one revision in pages of {@link PAGE} keys (keys only). A page boundary never splits a group: the
 * revision the page ended in is read whole before moving on.
 *
 * @example
 * ```ts
 * const groups = await readGroups(ctx, 'semaphore "pool": holders', spec.blockers, spec.isOwner, signal);
 * ```
 *
 * @throws UnavailableError when etcd cannot be reached; CompactedError when history was compacted between
 *   pages three times in a row
 */
export async function readGroups(
  ctx: CoordContext,
  what: string,
  range: { key: Buffer; end: Buffer },
  isOwner: (key: Buffer) => boolean,
  signal: AbortSignal | undefined,
): Promise<Group[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readOnce(ctx, what, range, isOwner, signal);
    } catch (err) {
      if (!(err instanceof CompactedError) || attempt >= 3) throw err;
    }
  }
}

async function readOnce(
  ctx: CoordContext,
  what: string,
  range: { key: Buffer; end: Buffer },
  isOwner: (key: Buffer) => boolean,
  signal: AbortSignal | undefined,
): Promise<Group[]> {
  let revision: string | undefined;
  const read = async (extra: Partial<IRangeRequest>) => {
    const res = await ctx.requester.run(
      what,
      (o) =>
        ctx.client.kv.range(
          {
            key: range.key,
            range_end: range.end,
            sort_target: SortTarget.Create,
            sort_order: SortOrder.Ascend,
            keys_only: true,
            ...(revision !== undefined ? { revision } : {}),
            ...extra,
          },
          o,
        ),
      { signal },
    );
    revision ??= headerRevision(res.header).toString();
    return res;
  };
  const groups: Group[] = [];
  const seen = new Set<string>();
  const add = (kvs: IKeyValue[]) => {
    for (const kv of kvs) {
      const id = kv.key.toString('hex');
      if (seen.has(id) || !isOwner(kv.key)) continue;
      seen.add(id);
      const rev = BigInt(kv.create_revision);
      const last = groups[groups.length - 1];
      if (last && last.createRevision === rev) last.kvs.push(kv);
      else groups.push({ createRevision: rev, kvs: [kv] });
    }
  };
  let page = await read({ limit: PAGE });
  add(page.kvs);
  while (page.more && page.kvs.length > 0) {
    const last = page.kvs[page.kvs.length - 1]!.create_revision;
    // The page may have cut one txn's keys: read that revision whole (one txn's keys: a small read).
    add((await read({ min_create_revision: last, max_create_revision: last })).kvs);
    page = await read({ limit: PAGE, min_create_revision: (BigInt(last) + 1n).toString() });
    add(page.kvs);
  }
  for (const g of groups) g.kvs.sort((a, b) => Buffer.compare(a.key, b.key));
  return groups;
}

/** A group as a {@link LockParticipant} (its first key names it). */
export function toParticipant(ctx: CoordContext, g: Group, extra: Partial<LockParticipant>): LockParticipant {
  const kv = g.kvs[0]!;
  return {
    key: ctx.keyspace.strip(kv.key).toString(),
    fencingToken: g.createRevision,
    leaseId: BigInt(kv.lease),
    ...extra,
  };
}

/** Holders and waiters, each in queue order. */
export interface Split {
  holders: LockParticipant[];
  waiters: LockParticipant[];
}

/**
 * The RW lock's rule on a queue: a writer holds when nobody is older; a reader when no writer is older.
 *
 * @example
 * ```ts
 * splitReadersWriters([r1, r2, w1, r3]); // holders [r1, r2], waiters [w1, r3]
 * ```
 */
export function splitReadersWriters(queue: LockParticipant[]): Split {
  const firstWriter = queue.findIndex((p) => p.mode === 'write');
  const held = firstWriter === 0 ? 1 : firstWriter === -1 ? queue.length : firstWriter;
  return { holders: queue.slice(0, held), waiters: queue.slice(held) };
}

/**
 * The semaphore's rule on a queue: an acquisition holds when its permits and every older one's fit in
 * `total` (strict FIFO: the first that does not fit makes every later one wait).
 *
 * @example
 * ```ts
 * splitPermits([{ permits: 2 }, { permits: 3 }, { permits: 1 }], 4); // holders: the first; waiters: the rest
 * ```
 */
export function splitPermits(queue: LockParticipant[], total: number): Split {
  let used = 0;
  let held = 0;
  for (const p of queue) {
    used += p.permits ?? 1;
    if (used > total) break;
    held++;
  }
  return { holders: queue.slice(0, held), waiters: queue.slice(held) };
}
