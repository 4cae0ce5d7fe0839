/**
 * tryCampaign() (and runAsLeader's `wait: false`) never waits in line, so it must also not wait for an
 * etcd that does not answer: it settles within the coordinator's request timeout (+ 1 s), like tryLock().
 */
import { describe, expect, it } from 'vitest';
import { connect, runAsLeader } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

describe('tryCampaign against an unreachable etcd', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('settles within requestTimeoutMs + 1 s when the connection is blackholed', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace: uniquePrefix('el-try'),
      ttlSeconds: 10,
      requestTimeoutMs: 1000,
    });
    try {
      await coord.session.leaseId; // the default session exists before the fault
      proxy.blackhole();
      for (const call of [
        () => coord.election('t').tryCampaign('x'),
        () => runAsLeader(coord, 't', async () => 'ran', { wait: false }),
      ]) {
        const started = performance.now();
        await expect(call()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
        expect(performance.now() - started).toBeLessThan(1000 + 1000);
      }
    } finally {
      proxy.pass();
      await coord.close();
      await proxy.close();
    }
  });
});
