/**
 * Acceptance 5: on a 3-member cluster, kill -9 the raft leader while producers push and consumers work:
 * every job pushed is acked in the end, nothing is left in the queue.
 */
import { describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

const JOBS = 400;

describe('queue through a raft leader crash', () => {
  const etcd = usePrivateEtcd({ members: 3 });

  it('kill -9 the leader mid-run: nothing lost', async () => {
    const { cluster } = etcd;
    const namespace = uniquePrefix('queue-leader');
    const open = () => connect({ endpoints: cluster.endpoints, namespace, ttlSeconds: 2 });
    const coords: Coordinator[] = [];
    const acked = new Set<number>();
    const errors: string[] = [];
    const stop = new AbortController();
    try {
      for (let i = 0; i < 5; i++) coords.push(await open());
      const consumers = coords.slice(2).map((c) =>
        c.queue<number>('jobs', { maxAttempts: 1000 }).process(
          async (job) => {
            acked.add(job.payload);
          },
          { concurrency: 4, signal: stop.signal, onError: (err) => errors.push(String(err)) },
        ),
      );
      // Producers push until each job is in (a push may fail while there is no leader; an at-least-once
      // producer tries again).
      let next = 0;
      let killed = false;
      const producers = coords.slice(0, 2).map(async (c) => {
        const q = c.queue<number>('jobs');
        for (let n = next++; n < JOBS; n = next++) {
          for (;;) {
            try {
              await q.push(n);
              break;
            } catch (err) {
              errors.push(String(err));
            }
          }
        }
        await q.close();
      });
      await waitFor(() => acked.size >= JOBS / 4, {
        timeoutMs: 60_000,
        message: 'a quarter of the jobs done',
      });
      const leader = await cluster.leader();
      await leader.kill();
      killed = true;
      const ackedAtKill = acked.size;
      await Promise.all(producers);
      await waitFor(() => acked.size >= JOBS, {
        timeoutMs: 90_000,
        intervalMs: 100,
        message: `all ${JOBS} jobs acked`,
      });
      // Every job is in and every payload acked; a push the test retried after an unanswered attempt may
      // have enqueued a duplicate (at-least-once): the consumers drain those too.
      const left = await waitFor(
        async () => ((await coords[0]!.queue('jobs').size()) === 0 ? 'empty' : undefined),
        { timeoutMs: 60_000, message: 'queue drained' },
      );
      stop.abort();
      await Promise.all(consumers);
      expect(killed).toBe(true);
      expect([...acked].sort((a, b) => a - b)).toEqual(Array.from({ length: JOBS }, (_, i) => i));
      expect(left).toBe('empty');
      console.log(
        `leader kill after ${ackedAtKill} of ${JOBS} jobs: all acked; ${errors.length} transient errors reported along the way`,
      );
    } finally {
      stop.abort();
      await Promise.allSettled(coords.map((c) => c.close()));
    }
  }, 180_000);
});
