/**
 * A 3-member cluster with the raft leader killed -9 during contention: mutual exclusion holds, waiters
 * continue after the new leader is elected, and no lock key leaks.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect, type Lock } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('mutex on a 3-member cluster', () => {
  const etcd = usePrivateEtcd({ members: 3 });

  it('keeps mutual exclusion through a leader kill; waiters continue; no key leaks', async () => {
    const ns = uniquePrefix('mutex-cluster');
    const coords = await Promise.all(
      Array.from({ length: 5 }, () =>
        connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 5 }),
      ),
    );
    const inside = new Set<Lock>();
    let violations = 0;
    let cycles = 0;
    let cyclesAfterKill = 0;
    let killed = false;
    let stop = false;
    const errors: string[] = [];
    try {
      const loops = coords.map(async (c) => {
        const m = c.mutex('m');
        while (!stop) {
          try {
            await m.withLock(
              async (lock) => {
                // Any other holder still inside must already know it lost the lock.
                for (const other of inside) if (!other.signal.aborted) violations++;
                inside.add(lock);
                await sleep(5);
                inside.delete(lock);
              },
              { timeoutMs: 20_000 },
            );
            cycles++;
            if (killed) cyclesAfterKill++;
          } catch (err) {
            errors.push((err as { code?: string }).code ?? String(err));
            await sleep(100);
          }
        }
      });
      await waitFor(() => cycles > 20, { timeoutMs: 30_000, message: 'contention under way' });
      const leader = await etcd.cluster.leader();
      await leader.kill();
      killed = true;
      await waitFor(() => cyclesAfterKill > 20, {
        timeoutMs: 45_000,
        message: 'waiters continue after the kill',
      });
      stop = true;
      await Promise.all(loops);
      expect(violations).toBe(0);
      const client = etcd.cluster.client({
        endpoints: etcd.cluster.endpoints.filter((e) => e !== leader.endpoint),
      });
      expect(await client.getAll().prefix(`${ns}m/`).keys()).toEqual([]);
      await leader.restart();
    } finally {
      stop = true;
      await Promise.all(coords.map((c) => c.close()));
    }
  }, 120_000);
});
