/**
 * Acceptance 6: runAsLeader's signal aborts when the leader's traffic is blackholed, before another
 * candidate is elected (loss is declared on the client's clock before the server expires the lease).
 */
import { describe, expect, it } from 'vitest';
import { connect, runAsLeader } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('runAsLeader under a blackholed leader', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it("fn's signal aborts before another candidate is elected", async () => {
    const prefix = uniquePrefix('el-ral');
    const endpoint = etcd.cluster.endpoints[0]!;
    const proxy = await FaultProxy.start(endpoint);
    const leader = await connect({
      endpoints: [proxy.endpoint],
      namespace: prefix,
      ttlSeconds: 2,
      requestTimeoutMs: 1000,
    });
    const other = await connect({ endpoints: [endpoint], namespace: prefix, ttlSeconds: 2 });
    try {
      let started = 0;
      let abortedAt = 0;
      let reason: unknown;
      const run = runAsLeader(
        leader,
        'cron/compactor',
        (signal) =>
          new Promise<string>((resolve) => {
            started = performance.now();
            signal.addEventListener('abort', () => {
              abortedAt = performance.now();
              reason = signal.reason;
              resolve('stopped');
            });
          }),
        { value: 'leader-a' },
      );
      await waitFor(() => started > 0);
      const campaign = other.election('cron/compactor').campaign('b');
      await waitFor(async () => (await other.election('cron/compactor').leader({})) !== null);
      const blackholedAt = performance.now();
      proxy.blackhole();
      const term = await campaign;
      const electedAt = performance.now();
      expect(abortedAt).toBeGreaterThan(0);
      expect(abortedAt).toBeLessThan(electedAt);
      expect((reason as { code?: string }).code).toBe('SESSION_EXPIRED');
      console.log(
        `abort ${Math.round(abortedAt - blackholedAt)} ms after blackhole; other elected ${Math.round(electedAt - blackholedAt)} ms after`,
      );
      proxy.pass();
      await expect(run).resolves.toBe('stopped');
      await term.resign();
    } finally {
      proxy.pass();
      await Promise.all([leader.close(), other.close()]);
      await proxy.close();
    }
  });
});
