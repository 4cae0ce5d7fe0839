import type { CoordContext } from '../core/context.js';
import { GhostSweeper } from '../core/ghost-sweeper.js';
import type { Room } from './bounded.js';
import { runPushTxn } from './push-txn.js';

/**
 * @internal One `push()`: the item put, guarded by "key absent", so a retry after an unanswered request
 * does not enqueue twice. The guard passes again once the job is acked: an ambiguous attempt arms the
 * sweeper (once mode) so that a late-applied one cannot enqueue the done job again while this
 * coordinator is open.
 */
export async function pushOne(
  ctx: CoordContext,
  spec: {
    queue: string;
    key: Buffer;
    value: Buffer;
    room: Room | undefined;
    signal: AbortSignal | undefined;
    timeoutMs: number | undefined;
  },
): Promise<{ id: string; applied: boolean; revision: bigint }> {
  const { key, value } = spec;
  const what = `queue "${spec.queue}": push`;
  const sweeper = GhostSweeper.of(ctx);
  const hold = sweeper.hold(key);
  try {
    const res = await runPushTxn(ctx, {
      what,
      guardKey: key,
      ops: () => Promise.resolve([{ request_put: { key, value } }]),
      room: spec.room,
      signal: spec.signal,
      timeoutMs: spec.timeoutMs,
      onAmbiguous: () => sweeper.arm(key, { leaseId: 0n, alive: ctx.closedSignal, what, once: {} }),
    });
    const own = res.applied ? res.revision : res.found ? BigInt(res.found.create_revision) : null;
    sweeper.own(key, own);
    // Without the key, an earlier attempt applied and the job was already consumed and acked: it is done,
    // and pushing it again would run it twice. Its id is gone with its key; the retry's revision is an
    // upper bound of it.
    return { id: (own ?? res.revision).toString(), applied: res.applied, revision: res.revision };
  } finally {
    hold();
  }
}
