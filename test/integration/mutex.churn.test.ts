/**
 * Waiting under heavy churn: many waiters on one coordinator share ONE etcd watcher per lock prefix, and a
 * storm of lock / timeout / abort / unlock across clients settles with every call answered and no key left.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('mutex under churn', () => {
  const etcd = useSharedEtcd('mutex-churn');
  let coords: Coordinator[] = [];
  beforeAll(async () => {
    coords = await Promise.all(
      Array.from({ length: 6 }, () =>
        connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });

  it('waiters in one coordinator share one watcher per lock prefix', async () => {
    const [a, ...rest] = coords as [Coordinator, ...Coordinator[]];
    const holder = await a.mutex('share').lock();
    const before = rest[0]!.watchHub.watcherCount;
    const sessions = await Promise.all(
      Array.from({ length: 10 }, () => rest[0]!.newSession({ ttlSeconds: 5 })),
    );
    // Each waiter unlocks as soon as it gets the lock (they queued in no particular order).
    const waits = sessions.map((session) =>
      rest[0]!
        .mutex('share', { session })
        .lock()
        .then((l) => l.unlock()),
    );
    await waitFor(
      async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}share/`).keys()).length === 11,
      {
        message: 'ten waiters queued',
      },
    );
    expect(rest[0]!.watchHub.watcherCount - before).toBeLessThanOrEqual(1);
    await holder.unlock();
    await Promise.all(waits);
    await Promise.all(sessions.map((s) => s.close()));
  });

  it('a storm of lock / timeout / abort / unlock settles: every call answered, mutual exclusion, no key left', async () => {
    let inside = 0;
    let maxInside = 0;
    const outcomes = { locked: 0, timeout: 0, aborted: 0, other: [] as string[] };
    const deadline = performance.now() + 6000;
    await Promise.all(
      coords.flatMap((c) =>
        Array.from({ length: 3 }, async () => {
          const session = await c.newSession({ ttlSeconds: 5 });
          const m = c.mutex('storm', { session });
          while (performance.now() < deadline) {
            const ac = new AbortController();
            const r = Math.random();
            const timer = r < 0.25 ? setTimeout(() => ac.abort(), Math.random() * 30) : undefined;
            try {
              const lock = await m.lock({
                signal: ac.signal,
                ...(r > 0.75 ? { timeoutMs: Math.random() * 40 } : {}),
              });
              inside++;
              maxInside = Math.max(maxInside, inside);
              outcomes.locked++;
              await sleep(Math.random() * 3);
              inside--;
              await lock.unlock();
            } catch (err) {
              const code = (err as { code?: string }).code;
              if (code === 'LOCK_TIMEOUT') outcomes.timeout++;
              else if (code === 'ABORTED') outcomes.aborted++;
              else outcomes.other.push(String(err));
            } finally {
              clearTimeout(timer);
            }
          }
          await session.close();
        }),
      ),
    );
    expect(outcomes.other).toEqual([]);
    expect(maxInside).toBe(1);
    expect(outcomes.locked).toBeGreaterThan(20);
    expect(outcomes.timeout + outcomes.aborted).toBeGreaterThan(5);
    await waitFor(
      async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}storm/`).keys()).length === 0,
      {
        message: 'no key left',
      },
    );
  }, 60_000);
});
