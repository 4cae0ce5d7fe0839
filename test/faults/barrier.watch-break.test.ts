/**
 * Barrier waits across a broken watch stream: the release happens while this client's traffic is
 * blackholed, and the history it would resume from is compacted before it reconnects. The waiter must
 * re-read and pass, not wait for ever for an event it can no longer get.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

/** True if `p` is still pending after `ms` (for "still blocked" checks only). */
async function stillPending(p: Promise<unknown>, ms = 300): Promise<boolean> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return !settled;
}

describe('barriers across a broken, compacted watch', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('Barrier.wait passes when the release it missed was compacted away', async () => {
    const prefix = uniquePrefix('barrier-compact');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const coord = await connect({ endpoints: [proxy.endpoint], namespace: prefix, ttlSeconds: 5 });
    const admin = etcd.cluster.client();
    try {
      await admin.put(`${prefix}gate`).value('held');
      const waiting = coord.barrier('gate').wait({ timeoutMs: 30_000 });
      expect(await stillPending(waiting)).toBe(true);

      proxy.blackhole();
      await admin.delete().key(`${prefix}gate`);
      for (let i = 0; i < 5; i++) await admin.put(`${prefix}noise`).value(String(i));
      await etcd.cluster.compact();
      proxy.pass();
      await waiting;
    } finally {
      proxy.pass();
      await coord.close();
      await proxy.close();
    }
  });

  it('DoubleBarrier.leave passes when the last leaver’s delete was compacted away', async () => {
    const prefix = uniquePrefix('dbarrier-compact');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const a = await connect({ endpoints: [proxy.endpoint], namespace: prefix, ttlSeconds: 5 });
    const b = await connect({ endpoints: etcd.cluster.endpoints, namespace: prefix, ttlSeconds: 5 });
    try {
      const ba = a.doubleBarrier('phase', 2);
      const bb = b.doubleBarrier('phase', 2);
      await Promise.all([ba.enter({ timeoutMs: 30_000 }), bb.enter({ timeoutMs: 30_000 })]);
      const leavingA = ba.leave({ timeoutMs: 30_000 });
      await waitFor(async () => (await bb.participants()) === 1, { message: 'A left' });
      expect(await stillPending(leavingA)).toBe(true);

      proxy.blackhole();
      await bb.leave({ timeoutMs: 30_000 });
      await etcd.cluster.compact();
      proxy.pass();
      await leavingA;
      expect(await bb.participants()).toBe(0);
    } finally {
      proxy.pass();
      await a.close();
      await b.close();
      await proxy.close();
    }
  });

  it('DoubleBarrier.enter passes when the ready put it missed was compacted away', async () => {
    const prefix = uniquePrefix('dbarrier-enter');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const a = await connect({ endpoints: [proxy.endpoint], namespace: prefix, ttlSeconds: 5 });
    const b = await connect({ endpoints: etcd.cluster.endpoints, namespace: prefix, ttlSeconds: 5 });
    try {
      const ba = a.doubleBarrier('phase', 2);
      const bb = b.doubleBarrier('phase', 2);
      const enteringA = ba.enter({ timeoutMs: 30_000 });
      await waitFor(async () => (await bb.participants()) === 1, { message: 'A arrived' });
      expect(await stillPending(enteringA)).toBe(true);

      proxy.blackhole();
      await bb.enter({ timeoutMs: 30_000 }); // completes the count and puts the ready key
      await etcd.cluster.compact();
      proxy.pass();
      await enteringA;
      await Promise.all([ba.leave({ timeoutMs: 30_000 }), bb.leave({ timeoutMs: 30_000 })]);
    } finally {
      proxy.pass();
      await a.close();
      await b.close();
      await proxy.close();
    }
  });
});
