/**
 * a `lock()` whose enqueue got no answer removes its waiter key with an *unconditional* delete
 * (src/lock/acquire.ts cleanUp → deleteKeyOnce with no create revision: "a key of unknown revision is only
 * ever ours"), and a mutex key is `<name>/<lease hex>` (etcd-compatible): the same key the next `lock()` on
 * that session and name creates. Mutex.unlock's doc: "a retried or late unlock never deletes a newer
 * holder's key". Release's claim: "a late-applied old
 * attempt must not delete a key re-created since". A first withdraw attempt buffered in a paused member,
 * retried elsewhere and confirmed (which passes the in-process turn on), applies after the next lock() was
 * granted and deletes the live holder's key: another process can then take the lock while it runs.
 *
 * Held: passed 3 of 3 runs (8-10 of 30 first locks timed out each run). Suspected rather than shown: the
 * unconditional delete is the same shape as election.late-withdraw, which does fail.
 * Before the fix (unconditional delete): failed 1 of 4 runs here; after (read, then delete by the create
 * revision read, src/core/guarded-delete.ts): passed 6 of 6.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { usePrivateEtcd } from '../support/shared.js';

describe('mutex failed-lock cleanup late apply after a new lock', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });

  it('a lock granted after a timed-out lock() is not lost to the old cleanup landing late', async () => {
    const cluster = etcd.cluster;
    const leader = await cluster.leader();
    const paused = cluster.members.find((m) => m !== leader)!;
    const coord = await connect({
      endpoints: cluster.endpoints,
      namespace: 'brk-mx/',
      requestTimeoutMs: 1000,
      ttlSeconds: 20,
    });
    try {
      const N = 30;
      const names = Array.from({ length: N }, (_, i) => `e${i}`);
      await coord.currentSession();
      // Opens the coordinator's shared watch stream before the pause (on whichever member it picks).
      await (await coord.mutex('warm').lock()).unlock();
      for (let i = 0; i < 20; i++) await coord.kv.exists('warm');
      paused.pause();
      // Locks cut by their deadline while their enqueue sits in the paused member: unsure keys, removed.
      const firsts = await Promise.allSettled(names.map((n) => coord.mutex(n).lock({ timeoutMs: 700 })));
      const outcomes = firsts.map((r) =>
        r.status === 'fulfilled' ? 'won' : `${(r.reason as Error).name}:${String((r.reason as Error).cause)}`,
      );
      console.log(
        'first locks',
        JSON.stringify(outcomes.reduce<Record<string, number>>((m, o) => ((m[o] = (m[o] ?? 0) + 1), m), {})),
      );
      for (const r of firsts) if (r.status === 'fulfilled') await r.value.unlock().catch(() => undefined);
      // The next lock() on each name waits in process until that removal is confirmed, then is granted.
      const locks = await Promise.all(names.map((n) => coord.mutex(n).lock({ timeoutMs: 15_000 })));
      paused.resume();
      await cluster.waitHealthy();
      await sleep(3000);
      const ended = locks.filter((t) => t.signal.aborted).map((t) => t.key);
      console.log('locks', locks.length, 'ended after resume', ended.length);
      for (const t of locks.filter((x) => x.signal.aborted))
        console.log('ended', t.key, String((t.signal.reason as Error).message));
      expect({ ended }).toEqual({ ended: [] });
      for (const t of locks) await t.unlock().catch(() => undefined);
    } finally {
      if (paused.paused) paused.resume();
      await coord.close();
    }
  }, 90_000);
});
