/**
 * 3-member cluster: kill -9 the raft leader while instances are registered. An outage shorter than the
 * TTL must not cost the registrations their lease, and discovery must converge.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('registry on a 3-member cluster', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });

  it('kill -9 of the raft leader: registrations stay alive (no lost) and the cache converges', async () => {
    const ns = uniquePrefix('reg-leader');
    const { cluster } = etcd;
    // TTL 10 s: a leader election on loopback takes well under a second, so no lease may be lost.
    const coord = await connect({
      endpoints: cluster.endpoints,
      namespace: ns,
      ttlSeconds: 10,
      requestTimeoutMs: 2000,
    });
    const watcher = await connect({
      endpoints: cluster.endpoints,
      namespace: ns,
      ttlSeconds: 10,
      requestTimeoutMs: 2000,
    });
    try {
      const svc = await watcher.discovery('api');
      const registry = coord.registry('api');
      const regs = await Promise.all(
        ['a', 'b', 'c'].map((id) => registry.register({ id, address: `${id}:80` })),
      );
      const lost: string[] = [];
      for (const r of regs) r.on('lost', () => lost.push(r.id));
      await waitFor(() => svc.size === 3);
      const lease = coord.session.leaseId;

      const leader = await cluster.leader();
      await leader.kill();
      // Writes keep working through the surviving quorum, and discovery follows them.
      await waitFor(
        async () => {
          await regs[0]!.update({ after: 'kill' }, { timeoutMs: 1500 });
          return true;
        },
        { timeoutMs: 30_000, message: 'update through the new leader' },
      );
      const d = await registry.register({ id: 'd', address: 'd:80' });
      await waitFor(() => svc.get('a')?.metadata.after === 'kill' && svc.get('d') !== undefined, {
        timeoutMs: 30_000,
        message: 'cache converged',
      });
      // Outlive one more TTL's worth of keepalives on the new leader.
      await new Promise((r) => setTimeout(r, 3000));
      expect(lost).toEqual([]);
      expect(coord.session.leaseId).toBe(lease);
      expect(regs.every((r) => r.registered && r.leaseId === lease)).toBe(true);
      const keys = await cluster.client().getAll().prefix(`${ns}services/api/`).keys();
      expect(keys.length).toBe(4);
      expect(svc.instances().map((i) => i.id)).toEqual(['a', 'b', 'c', 'd']);
      await d.deregister();
      await waitFor(() => svc.size === 3);
      await leader.restart();
    } finally {
      await coord.close();
      await watcher.close();
    }
  });
});
