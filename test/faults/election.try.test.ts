/**
 * Issue 16 f1 for election: tryCampaign() (and runAsLeader's `wait: false`) never waits in line, so it must
 * also not wait for an etcd that does not answer: it settles within the coordinator's request timeout (+ 1 s),
 * like tryLock(). campaign() honours its timeoutMs, and resign()/close() their request deadline.
 */
import { describe, expect, it } from 'vitest';
import { connect, runAsLeader } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

describe('election calls against an unreachable etcd', () => {
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

  it('campaign({ timeoutMs }) and resign() settle within their deadline + 1 s when the connection is blackholed', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace: uniquePrefix('el-try'),
      ttlSeconds: 10,
      requestTimeoutMs: 1000,
    });
    try {
      const term = await coord.election('held').campaign('x');
      proxy.blackhole();
      let started = performance.now();
      await expect(coord.election('other').campaign('y', { timeoutMs: 500 })).rejects.toMatchObject({
        code: 'LOCK_TIMEOUT',
      });
      expect(performance.now() - started).toBeLessThan(500 + 1000);
      started = performance.now();
      await expect(term.resign()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      expect(performance.now() - started).toBeLessThan(1000 + 1000);
      started = performance.now();
      await expect(term.close()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      expect(performance.now() - started).toBeLessThan(1000 + 1000);
    } finally {
      proxy.pass();
      await coord.close();
      await proxy.close();
    }
  });
});
