/**
 * the "may apply later" unknown outcome made deterministic. One client reaches member m0 through
 * a relay that delays every byte by 4 s (SlowLink: FIN after the data, as TCP) (a congested link: a request arrives at etcd long after the
 * client gave up on it). A push sent that way times out (requestTimeoutMs 1000), is retried on another
 * member (queue push retries unanswered attempts, "guarded by key absent"), acknowledged; a consumer on
 * the other members pops and acks the job; then the delayed first attempt reaches etcd.
 * Guarantee (DESIGN failure class 1, "a late-applied old attempt must not resurrect a key"): every job
 * push() acknowledged once runs once: after acking everything, the queue stays empty.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { SlowLink } from '../support/slow-link.js';
import { usePrivateEtcd } from '../support/shared.js';

describe('queue push late apply (delayed link)', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });

  it('a push retried elsewhere and acked is not enqueued again by its delayed first attempt', async () => {
    const cluster = etcd.cluster;
    const [m0, m1, m2] = cluster.members;
    const proxy = await SlowLink.start(m0!.endpoint);
    const producer = await connect({
      endpoints: [proxy.endpoint, m1!.endpoint, m2!.endpoint],
      requestTimeoutMs: 1000,
      ttlSeconds: 5,
    });
    const consumer = await connect({ endpoints: [m1!.endpoint, m2!.endpoint], ttlSeconds: 5 });
    const name = `late-${Date.now()}`;
    const pq = producer.queue(name);
    const cq = consumer.queue(name);
    try {
      for (let i = 0; i < 30; i++) await pq.size();
      proxy.delayMs = 4000;
      const t0 = performance.now();
      const N = 12;
      const durations: number[] = [];
      const results = await Promise.allSettled(
        Array.from({ length: N }, async (_, i) => {
          const s = performance.now();
          try {
            return await pq.push({ i }, { timeoutMs: 8000 });
          } finally {
            durations[i] = Math.round(performance.now() - s);
          }
        }),
      );
      const failed = results.filter((r) => r.status === 'rejected');
      console.log('push durations', durations.join(','), 'failed', failed.length);
      const seen: number[] = [];
      while (seen.length < N - failed.length) {
        const job = await cq.pop({ timeoutMs: 3000 });
        seen.push((job.payload as { i: number }).i);
        await job.ack();
      }
      console.log('consumed by', Math.round(performance.now() - t0), 'ms:', seen.length);
      expect(await cq.size()).toBe(0);
      // Let the delayed bytes reach m0 (4 s after they were sent) and apply.
      await sleep(Math.max(0, 4000 + 2500 - (performance.now() - t0)));
      const again: number[] = [];
      const left = await cq.size();
      for (let k = 0; k < left; k++) {
        const job = await cq.pop({ timeoutMs: 2000 });
        again.push((job.payload as { i: number }).i);
        await job.ack();
      }
      console.log('enqueued again after ack:', again.join(','));
      expect({ deliveredTwice: again }).toEqual({ deliveredTwice: [] });
    } finally {
      await producer.close();
      await consumer.close();
      await proxy.close();
    }
  });
});
