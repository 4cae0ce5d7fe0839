/**
 * Issue 25: multi-locks under contention. Overlapping sets ([a,b] and [b,c]) never hold `b` together, and
 * opposite orders ([a,b] and [b,a]) never deadlock. Each checker has a negative control that shows it
 * catches what it looks for: locks that do not cover `b` overlap in `b`; sequential mutexes taken in
 * opposite orders deadlock.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

/** Records who is inside a critical section and the worst overlap seen. */
class OverlapChecker {
  #inside = new Set<string>();
  maxInside = 0;
  entries = 0;
  enter(who: string): void {
    this.#inside.add(who);
    this.entries++;
    this.maxInside = Math.max(this.maxInside, this.#inside.size);
  }
  leave(who: string): void {
    this.#inside.delete(who);
  }
}

describe('multiLock under contention', () => {
  const etcd = useSharedEtcd('multilock-contention');
  let coords: Coordinator[];
  beforeAll(async () => {
    const opts = { endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 };
    coords = await Promise.all([0, 1, 2, 3].map(() => connect(opts)));
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });

  /** Four workers (two on each set, one coordinator each) enter `b`'s critical section `rounds` times. */
  async function contend(sets: string[][], rounds: number): Promise<OverlapChecker> {
    const checker = new OverlapChecker();
    await Promise.all(
      coords.map(async (coord, w) => {
        const ml = coord.multiLock(sets[w % sets.length]!);
        for (let i = 0; i < rounds; i++) {
          await ml.withLock(
            async () => {
              checker.enter(`w${w}`);
              await sleep(2 + Math.random() * 8);
              checker.leave(`w${w}`);
            },
            { timeoutMs: 20_000 },
          );
        }
      }),
    );
    return checker;
  }

  it('[a,b] and [b,c]: never two holders of b at once', async () => {
    const checker = await contend(
      [
        ['o/a', 'o/b'],
        ['o/b', 'o/c'],
      ],
      15,
    );
    expect(checker.entries).toBe(60);
    expect(checker.maxInside).toBe(1);
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}o/`).keys()).toEqual([]);
  }, 60_000);

  it('negative control: [a] and [c] (b not locked) are seen overlapping in b', async () => {
    const checker = await contend([['n/a'], ['n/c']], 15);
    expect(checker.maxInside).toBeGreaterThan(1);
  }, 60_000);

  it('[a,b] and [b,a]: all rounds finish within a bound (no deadlock)', async () => {
    const t0 = performance.now();
    const checker = await contend(
      [
        ['x/a', 'x/b'],
        ['x/b', 'x/a'],
      ],
      15,
    );
    expect(checker.entries).toBe(60);
    expect(checker.maxInside).toBe(1);
    expect(performance.now() - t0).toBeLessThan(30_000);
  }, 60_000);

  it('one coordinator (one session, one key per name): [a,b], [b,a] and a plain mutex on b all finish, b never shared', async () => {
    const coord = coords[0]!;
    const checker = new OverlapChecker();
    const inB = async (who: string) => {
      checker.enter(who);
      await sleep(1 + Math.random() * 3);
      checker.leave(who);
    };
    const loop = (who: string, take: () => Promise<unknown>) => async () => {
      for (let i = 0; i < 10; i++) await take();
    };
    const t0 = performance.now();
    await Promise.all(
      [
        loop('ab', () => coord.multiLock(['l/a', 'l/b']).withLock(() => inB('ab'), { timeoutMs: 20_000 })),
        loop('ba', () => coord.multiLock(['l/b', 'l/a']).withLock(() => inB('ba'), { timeoutMs: 20_000 })),
        loop('bc', () => coord.multiLock(['l/c', 'l/b']).withLock(() => inB('bc'), { timeoutMs: 20_000 })),
        loop('b', () => coord.mutex('l/b').withLock(() => inB('b'), { timeoutMs: 20_000 })),
      ].map((f) => f()),
    );
    expect(checker.entries).toBe(40);
    expect(checker.maxInside).toBe(1);
    expect(performance.now() - t0).toBeLessThan(30_000);
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}l/`).keys()).toEqual([]);
  }, 60_000);

  it('negative control: plain mutexes taken one by one in opposite orders deadlock', async () => {
    const [p, q] = [coords[0]!, coords[1]!];
    const first = await Promise.all([p.mutex('s/a').lock(), q.mutex('s/b').lock()]);
    const second = await Promise.allSettled([
      p.mutex('s/b').lock({ timeoutMs: 1000 }),
      q.mutex('s/a').lock({ timeoutMs: 1000 }),
    ]);
    expect(second.map((r) => r.status === 'rejected' && (r.reason as { code: string }).code)).toEqual([
      'LOCK_TIMEOUT',
      'LOCK_TIMEOUT',
    ]);
    await Promise.all(first.map((l) => l.unlock()));
    // The same pair as multi-locks, each already queued at the other's name: both finish.
    const both = await Promise.all([
      p.multiLock(['s/a', 's/b']).withLock(() => 'p', { timeoutMs: 5000 }),
      q.multiLock(['s/b', 's/a']).withLock(() => 'q', { timeoutMs: 5000 }),
    ]);
    expect(both).toEqual(['p', 'q']);
  }, 30_000);
});
