/**
 * Loss signals on a private etcd: revoking the holder's lease, deleting its key from another client, and
 * blackholing its traffic each abort `lock.signal`; with the blackhole, before anyone else acquires.
 */
import { describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('mutex loss signals', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const open = (
    endpoints: string[],
    namespace: string,
    extra: { requestTimeoutMs?: number } = {},
  ): Promise<Coordinator> => connect({ endpoints, namespace, ttlSeconds: 2, ...extra });

  it('revoking the lease aborts lock.signal with LOCK_LOST', async () => {
    const ns = uniquePrefix('loss-revoke');
    const coord = await open(etcd.cluster.endpoints, ns);
    try {
      const lock = await coord.mutex('m').lock();
      await etcd.cluster.client().leaseClient.leaseRevoke({ ID: lock.leaseId.toString() });
      await waitFor(() => lock.signal.aborted, { message: 'lock.signal aborted' });
      expect(lock.signal.reason).toMatchObject({ code: 'LOCK_LOST' });
      await lock.unlock();
    } finally {
      await coord.close();
    }
  });

  it('deleting the lock key from another client aborts lock.signal with LOCK_LOST', async () => {
    const ns = uniquePrefix('loss-delete');
    const coord = await open(etcd.cluster.endpoints, ns);
    try {
      const lock = await coord.mutex('m').lock();
      await etcd.cluster.client().delete().key(`${ns}${lock.key}`);
      await waitFor(() => lock.signal.aborted, { message: 'lock.signal aborted' });
      expect(lock.signal.reason).toMatchObject({ code: 'LOCK_LOST' });
      expect(coord.session.done).toBe(false); // only the key went, not the session
      await lock.unlock();
    } finally {
      await coord.close();
    }
  });

  it('blackholing the holder aborts lock.signal before any other client acquires', async () => {
    const ns = uniquePrefix('loss-blackhole');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const holder = await open([proxy.endpoint], ns, { requestTimeoutMs: 1000 });
    const other = await open(etcd.cluster.endpoints, ns);
    try {
      const lock = await holder.mutex('m').lock();
      let lostAt: number | undefined;
      lock.signal.addEventListener('abort', () => (lostAt = performance.now()), { once: true });
      const waiting = other
        .mutex('m')
        .lock({ timeoutMs: 30_000 })
        .then((l) => ({ l, at: performance.now() }));
      await waitFor(
        async () => (await etcd.cluster.client().getAll().prefix(`${ns}m/`).keys()).length === 2,
        {
          message: 'second client queued',
        },
      );
      proxy.blackhole();
      const { l, at } = await waiting;
      expect(lostAt).toBeDefined();
      expect(lostAt!).toBeLessThan(at);
      expect(lock.signal.reason).toMatchObject({ code: 'LOCK_LOST' });
      expect(l.fencingToken).toBeGreaterThan(lock.fencingToken);
      await l.unlock();
    } finally {
      proxy.pass();
      await other.close();
      await holder.close();
      await proxy.close();
    }
  });
});
