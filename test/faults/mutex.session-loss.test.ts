/**
 * Issue 15 f4: a waiter whose session is lost while etcd is unreachable is rejected SESSION_EXPIRED when
 * the loss is declared, not after its cleanup delete retried against the dead connection.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('mutex waiter on a lost session', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('rejects SESSION_EXPIRED within 1 s of the loss being declared, with etcd blackholed', async () => {
    const ns = uniquePrefix('waiter-loss');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const holder = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 2 });
    // Default requestTimeoutMs (5 s): on main the rejection came ~25 s after the loss.
    const waiter = await connect({ endpoints: [proxy.endpoint], namespace: ns, ttlSeconds: 2 });
    try {
      const held = await holder.mutex('m').lock();
      const p = waiter.mutex('m').lock();
      const outcome = p.then(
        () => ({ at: performance.now(), err: undefined }),
        (err: unknown) => ({ at: performance.now(), err }),
      );
      await waitFor(
        async () => (await etcd.cluster.client().getAll().prefix(`${ns}m/`).keys()).length === 2,
        { message: 'waiter queued' },
      );
      let lostAt: number | undefined;
      waiter.session.once('lost', () => (lostAt = performance.now()));
      proxy.blackhole();
      const { at, err } = await outcome;
      expect(err).toMatchObject({ code: 'SESSION_EXPIRED' });
      expect(lostAt).toBeDefined();
      expect(at - lostAt!).toBeLessThan(1000);
      await held.unlock();
    } finally {
      proxy.pass();
      await Promise.allSettled([waiter.close(), holder.close()]);
      await proxy.close();
    }
  }, 60_000);
});
