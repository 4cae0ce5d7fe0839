import type { CoordContext } from '../core/context.js';
import { DeletionWatch } from '../core/deletion-watch.js';
import { CoordError, LockLostError } from '../core/errors.js';
import { ownerKeyRange } from '../core/keys.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';

/** What {@link watchOwnKey} follows. */
export interface OwnKeyWatch {
  ctx: CoordContext;
  name: string;
  fullKey: Buffer;
  fencingToken: bigint;
  /** The campaign's watch, handed over. */
  watch: DeletionWatch;
  /** Any deletion of the key above this revision ends the term. */
  readRevision: bigint;
  /** The term's signal: watching stops when it aborts. */
  signal: AbortSignal;
  /** Called once when the key is gone (deleted, or replaced by a newer term's key). */
  onGone: (err: LockLostError) => void;
}

/**
 * @internal Ends a term when its leader key is deleted (`etcdctl del`, a revoked lease); after a broken
 * watch (compaction while disconnected), re-reads the key and watches again. Never rejects.
 *
 * @example
 * ```ts
 * void watchOwnKey({ ctx, name, fullKey, fencingToken, watch, readRevision, signal, onGone: end });
 * ```
 *
 * Failure modes: etcd unreachable → the re-read is retried until `signal` aborts (the session's loss ends
 * the term meanwhile).
 */
export async function watchOwnKey(spec: OwnKeyWatch): Promise<void> {
  const { ctx, name, fullKey, signal } = spec;
  const label = ctx.keyspace.strip(fullKey).toString();
  let watch = spec.watch;
  let after = spec.readRevision;
  try {
    for (;;) {
      try {
        await watch.waitForDelete(fullKey, after, signal);
        return spec.onGone(new LockLostError(`election "${name}": the leader key ${label} was deleted`));
      } catch {
        if (signal.aborted) return;
      }
      // The watch broke (compaction while disconnected): look at the key itself, then watch again.
      watch.close();
      const next = await withRetry(
        async () => {
          const range = ownerKeyRange(ctx.keyspace.key(`${name}/`));
          const w = await DeletionWatch.open(ctx, range.key, range.end, signal);
          try {
            const res = await ctx.requester.run(`election "${name}": check leader key`, (o) =>
              ctx.client.kv.range({ key: fullKey }, o),
            );
            const kv = res.kvs[0];
            return {
              w,
              gone: !kv || BigInt(kv.create_revision) !== spec.fencingToken,
              rev: headerRevision(res.header),
            };
          } catch (err) {
            w.close();
            throw err;
          }
        },
        {
          signal,
          retries: Number.MAX_SAFE_INTEGER,
          shouldRetry: (err) => !(err instanceof CoordError && err.code === 'ABORTED'),
        },
      );
      watch = next.w;
      after = next.rev;
      if (next.gone)
        return spec.onGone(new LockLostError(`election "${name}": the leader key ${label} is gone`));
    }
  } catch {
    // Only an abort ends the retry loop: the term is over already.
  } finally {
    watch.close();
  }
}
