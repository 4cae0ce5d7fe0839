/** AtomicCounter.set / trySet / reserve and IdGenerator (issue 25): Curator's forceSet/trySet, hi/lo ids. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, InvalidArgumentError, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('AtomicCounter set, trySet, reserve; IdGenerator', () => {
  const etcd = useSharedEtcd('counter-set-reserve');
  const coords: Coordinator[] = [];
  let coord: Coordinator;

  beforeAll(async () => {
    for (let i = 0; i < 4; i++)
      coords.push(await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 }));
    coord = coords[0]!;
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });

  async function modRevision(name: string): Promise<string | undefined> {
    const res = await coord.client.get(`${etcd.prefix}${name}`).exec();
    return res.kvs[0]?.mod_revision;
  }

  it('set overwrites whatever another process wrote, and the same handle adds on top of it', async () => {
    const a = coords[0]!.atomicCounter('set/plain');
    const b = coords[1]!.atomicCounter('set/plain');
    await a.add(5);
    await b.add(100); // a's cache now says 5, etcd says 105
    await a.set(7);
    expect(await b.get()).toBe(7n);
    expect(await a.add(1)).toBe(8n);
    expect(await b.add(1)).toBe(9n);
  });

  it('trySet sets from a stale cache (its own read decides), and writes nothing when the value is already there', async () => {
    const a = coords[0]!.atomicCounter('try/stale');
    const b = coords[1]!.atomicCounter('try/stale');
    await a.add(5);
    await b.set(7);
    expect(await a.trySet(9)).toBe(true);
    expect(await b.get()).toBe(9n);
    const before = await modRevision('try/stale');
    expect(await b.trySet(9)).toBe(true);
    expect(await modRevision('try/stale')).toBe(before);
  });

  it('concurrent trySets: the final value is one whose trySet said true; a false was a lost race', async () => {
    for (let round = 0; round < 10; round++) {
      const name = `try/race/${round}`;
      const results = await Promise.all(coords.map((c, i) => c.atomicCounter(name).trySet(BigInt(1000 + i))));
      const final = await coord.atomicCounter(name).get();
      const winners = results.flatMap((ok, i) => (ok ? [BigInt(1000 + i)] : []));
      expect(winners.length).toBeGreaterThan(0);
      expect(winners).toContain(final);
    }
  });

  it('reserve hands every process disjoint blocks that tile 1..total', async () => {
    const blocks = (
      await Promise.all(
        coords.map(async (c, w) => {
          const counter = c.atomicCounter('reserve/tiles');
          const got: { first: bigint; last: bigint }[] = [];
          for (let i = 0; i < 15; i++) got.push(await counter.reserve(1 + ((i * 7 + w) % 13)));
          return got;
        }),
      )
    )
      .flat()
      .sort((x, y) => (x.first < y.first ? -1 : 1));
    let expected = 1n;
    for (const b of blocks) {
      expect(b.first).toBe(expected);
      expect(b.last).toBeGreaterThanOrEqual(b.first);
      expected = b.last + 1n;
    }
    expect(await coord.atomicCounter('reserve/tiles').get()).toBe(expected - 1n);
  });

  it('IdGenerator: 4 processes, 400 ids each, all unique, one request per block', async () => {
    const gens = coords.map((c) => c.idGenerator('ids/order', { blockSize: 50 }));
    const ids = (
      await Promise.all(
        gens.map(async (g) => {
          // Concurrent callers on one generator share its block and its reservation.
          const mine = await Promise.all(Array.from({ length: 400 }, () => g.next()));
          return mine;
        }),
      )
    ).flat();
    expect(new Set(ids).size).toBe(1600);
    // 1600 ids in blocks of 50: exactly 32 reservations when every generator used its blocks up.
    expect(await coord.atomicCounter('ids/order').get()).toBe(1600n);
    expect(gens.every((g) => g.remaining === 0)).toBe(true);
  });

  it('IdGenerator: ids from one generator increase', async () => {
    const g = coord.idGenerator('ids/monotonic', { blockSize: 3 });
    const seen: bigint[] = [];
    for (let i = 0; i < 10; i++) seen.push(await g.next());
    expect(seen).toEqual([...seen].sort((x, y) => (x < y ? -1 : 1)));
    expect(new Set(seen).size).toBe(10);
  });

  it('bad input is named, nothing written', async () => {
    const c = coord.atomicCounter('bad/input');
    await expect(c.set('x' as never)).rejects.toThrow(/`value`/);
    await expect(c.trySet(1.5)).rejects.toThrow(/`value`/);
    await expect(c.reserve(0)).rejects.toThrow(InvalidArgumentError);
    await expect(c.reserve(0)).rejects.toThrow(/`n`/);
    expect(() => coord.idGenerator('bad/gen', { blockSize: 0 })).toThrow(/`blockSize`/);
    expect(() => coord.idGenerator('bad/gen', null as never)).toThrow(/`opts`/);
    await expect(coord.idGenerator('bad/gen').next({ timeoutMs: -1 })).rejects.toThrow(/`timeoutMs`/);
    expect(await modRevision('bad/input')).toBeUndefined();
    expect(await modRevision('bad/gen')).toBeUndefined();
  });
});
