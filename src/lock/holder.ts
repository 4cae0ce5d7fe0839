import { SortOrder, SortTarget } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import type { QueueSpec } from './queue.js';

/** Who holds a lock right now. */
export interface LockHolder {
  /** The holder's key, relative to the coordinator's namespace. */
  key: string;
  /** Create revision of the holder's key: its fencing token. */
  fencingToken: bigint;
  /** The holder's session lease. */
  leaseId: bigint;
  /** The value the holder's key was created with (see {@link LockOptions.value}); absent when empty. */
  value?: Buffer;
}

/**
 * The current holder of a fair lock (its owner key with the lowest create revision), or `null` when free.
 * Pages keys-only past nested names' keys, then reads the holder's value at the same revision.
 *
 * @example
 * ```ts
 * const h = await readHolder(ctx, spec, signal);
 * ```
 *
 * @throws UnavailableError when etcd cannot be reached
 */
export async function readHolder(
  ctx: CoordContext,
  spec: QueueSpec,
  signal: AbortSignal | undefined,
): Promise<LockHolder | null> {
  const { key, end } = spec.blockers;
  let after: bigint | undefined;
  let revision: string | undefined;
  for (;;) {
    const res = await ctx.requester.run(
      `${spec.what}: holder`,
      (o) =>
        ctx.client.kv.range(
          {
            key,
            range_end: end,
            limit: 8,
            sort_target: SortTarget.Create,
            sort_order: SortOrder.Ascend,
            keys_only: true,
            ...(after !== undefined ? { min_create_revision: (after + 1n).toString() } : {}),
            ...(revision !== undefined ? { revision } : {}),
          },
          o,
        ),
      { signal: signal },
    );
    // Skip nested names' keys (`<name>/<child>/…`) that fall in the owner range.
    const kv = res.kvs.find((k) => spec.isOwner(k.key));
    if (kv) {
      // The scan is keys-only (waiters' values could add up past gRPC's message limit): read the
      // holder's value at the same revision, so it belongs to this very key.
      const at = revision ?? res.header.revision;
      const got = await ctx.requester.run(
        `${spec.what}: holder value`,
        (o) => ctx.client.kv.range({ key: kv.key, revision: at }, o),
        { signal: signal },
      );
      const value = got.kvs[0]?.value;
      return {
        key: ctx.keyspace.strip(kv.key).toString(),
        fencingToken: BigInt(kv.create_revision),
        leaseId: BigInt(kv.lease),
        ...(value && value.length > 0 ? { value } : {}),
      };
    }
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || !last) return null;
    after = BigInt(last.create_revision);
    revision ??= res.header.revision;
  }
}
