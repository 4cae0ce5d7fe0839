/**
 * The shared watch breaks while history is compacted (private etcd): a waiter re-opens it, re-reads and
 * still gets the lock; a holder's loss monitor re-arms and still notices a later deletion of its key.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('mutex across a compacted watch', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('a waiter whose watch missed the handoff to compaction still acquires; a holder still sees its key deleted', async () => {
    const ns = uniquePrefix('mutex-compact');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const holder = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 5 });
    const waiter = await connect({
      endpoints: [proxy.endpoint],
      namespace: ns,
      ttlSeconds: 5,
      requestTimeoutMs: 2000,
    });
    const admin = etcd.cluster.client();
    try {
      const held = await holder.mutex('m').lock();
      const mine = await waiter.mutex('kept').lock(); // a lock the waiter's coordinator holds throughout
      const waiting = waiter.mutex('m').lock({ timeoutMs: 30_000 });
      await waitFor(async () => (await admin.getAll().prefix(`${ns}m/`).keys()).length === 2, {
        message: 'waiter queued',
      });
      proxy.blackhole(); // the waiter's watch stream stalls
      await held.unlock(); // the handoff happens while the waiter cannot see it…
      await admin.put(`${ns}noise`).value('x');
      await etcd.cluster.compact(); // …and the history it would resume from is gone
      await sleep(300);
      proxy.pass(); // the client reconnects; resuming the watch reports compaction
      const lock = await waiting;
      expect(lock.fencingToken).toBeGreaterThan(held.fencingToken);
      expect(mine.signal.aborted).toBe(false);
      await admin.delete().key(`${ns}${mine.key}`);
      await waitFor(() => mine.signal.aborted, { message: 'holder monitor re-armed after compaction' });
      expect(mine.signal.reason).toMatchObject({ code: 'LOCK_LOST' });
      await lock.unlock();
      await mine.unlock();
    } finally {
      proxy.pass();
      await waiter.close();
      await holder.close();
      await proxy.close();
    }
  }, 60_000);
});
