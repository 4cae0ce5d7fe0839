/**
 * A consumer cut off from etcd (blackholed through a proxy) while holding a job: its job signal aborts
 * before another consumer can get the job, its late ack is refused (LockLostError), the job is redelivered
 * with attempt + 1, and once the network is back the cut-off consumer works again under a new lease.
 */
import { describe, expect, it } from 'vitest';
import { connect, LockLostError, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

describe('queue consumer partitioned from etcd', () => {
  const etcd = usePrivateEtcd({ members: 1 });

  it('claim lost with the lease: signal first, then redelivery; the consumer recovers', async () => {
    const { cluster } = etcd;
    const namespace = uniquePrefix('queue-part');
    const proxy = await FaultProxy.start(cluster.endpoints[0]!);
    const coords: Coordinator[] = [];
    try {
      const cut = await connect({ endpoints: [proxy.endpoint], namespace, ttlSeconds: 2 });
      coords.push(cut);
      const other = await connect({ endpoints: cluster.endpoints, namespace, ttlSeconds: 2 });
      coords.push(other);
      const cq = cut.queue<string>('jobs');
      const oq = other.queue<string>('jobs');
      await oq.push('only');
      const job = await cq.pop({ timeoutMs: 10_000 });
      expect(job.attempt).toBe(1);
      let abortedAt: number | undefined;
      job.signal.addEventListener('abort', () => (abortedAt = Date.now()), { once: true });

      proxy.blackhole();
      const again = await oq.pop({ timeoutMs: 30_000 });
      const redeliveredAt = Date.now();
      expect(again.id).toBe(job.id);
      expect(again.attempt).toBe(2);
      // The cut-off consumer was told before the job could go elsewhere.
      expect(abortedAt).toBeDefined();
      expect(abortedAt!).toBeLessThanOrEqual(redeliveredAt);

      proxy.pass();
      await expect(job.ack()).rejects.toBeInstanceOf(LockLostError);
      await again.ack();

      // Back on the network: the same handle gets new jobs, under a new lease.
      await oq.push('next');
      const next = await cq.pop({ timeoutMs: 30_000 });
      expect(next.payload).toBe('next');
      await next.ack();
      expect(await oq.size()).toBe(0);
      await cq.close();
      await oq.close();
    } finally {
      await Promise.allSettled(coords.map((c) => c.close()));
      await proxy.close();
    }
  }, 90_000);
});
