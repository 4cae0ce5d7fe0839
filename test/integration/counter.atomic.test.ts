/** AtomicCounter: mod-revision CAS, decimal values, bad input refused before any request. */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  connect,
  ConflictError,
  InvalidArgumentError,
  INT64_MAX,
  type Coordinator,
} from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('AtomicCounter', () => {
  const etcd = useSharedEtcd('counter-atomic');
  const coords: Coordinator[] = [];
  let coord: Coordinator;

  beforeAll(async () => {
    for (let i = 0; i < 8; i++)
      coords.push(await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 }));
    coord = coords[0]!;
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });

  it('8 clients adding random deltas: the final value is the sum of every acknowledged delta', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.array(fc.bigInt({ min: -1_000_000n, max: 1_000_000n }), { minLength: 1, maxLength: 25 }),
          {
            minLength: 8,
            maxLength: 8,
          },
        ),
        async (perClient) => {
          const name = `sum/${run++}`;
          let acknowledged = 0n;
          let lostRaces = 0;
          await Promise.all(
            perClient.map(async (deltas, i) => {
              const counter = coords[i]!.atomicCounter(name);
              for (const d of deltas) {
                try {
                  await counter.add(d);
                  acknowledged += d;
                } catch (err) {
                  // Losing every allowed race is a legitimate answer under contention: nothing was written.
                  if (!(err instanceof ConflictError)) throw err;
                  lostRaces++;
                }
              }
            }),
          );
          expect(await coord.atomicCounter(name).get()).toBe(acknowledged);
          expect(lostRaces).toBeLessThan(perClient.flat().length);
        },
      ),
      { numRuns: 6 },
    );
  });

  it('every add returns the value right after it: the returned values, in CAS order, replay the deltas', async () => {
    // Each successful CAS is one revision: sorting the acknowledged results by that revision must give a
    // chain in which each value is the previous one plus its own delta.
    const name = 'chain';
    const events: { delta: bigint; value: bigint }[] = [];
    await Promise.all(
      coords.map(async (c, i) => {
        const counter = c.atomicCounter(name);
        for (let k = 0; k < 10; k++) {
          const delta = BigInt(i + 1);
          events.push({ delta, value: await counter.add(delta) });
        }
      }),
    );
    const history = await etcd.admin.get(`${etcd.prefix}${name}`).exec();
    expect(history.kvs[0]?.version).toBe(String(events.length));
    const byValue = new Map(events.map((e) => [e.value, e]));
    expect(byValue.size).toBe(events.length); // all deltas positive: distinct values
    let value = 0n;
    for (const e of [...events].sort((a, b) => (a.value < b.value ? -1 : 1))) {
      expect(e.value).toBe(value + e.delta);
      value = e.value;
    }
  });

  it('add / decrement / compareAndSet / get, with the value stored as a decimal string', async () => {
    const a = coord.atomicCounter('stock/widgets');
    expect(await a.get()).toBe(0n);
    expect(await a.add(10)).toBe(10n);
    expect(await a.decrement()).toBe(9n);
    expect(await a.decrement(20n)).toBe(-11n);
    expect(await a.increment()).toBe(-10n);
    expect(await etcd.admin.get(`${etcd.prefix}stock/widgets`).string()).toBe('-10');
    expect(await a.compareAndSet(5n, 7n)).toBe(false);
    expect(await a.compareAndSet(-10n, 7n)).toBe(true);
    expect(await a.get()).toBe(7n);
    // Another writer changes the value behind this handle's back: its cached view must not decide.
    await etcd.admin.put(`${etcd.prefix}stock/widgets`).value('100');
    expect(await a.compareAndSet(7n, 8n)).toBe(false);
    expect(await a.compareAndSet(100n, 101n)).toBe(true);
    expect(await a.add(1)).toBe(102n);
    await etcd.admin.put(`${etcd.prefix}stock/widgets`).value('5');
    expect(await a.add(1)).toBe(6n); // stale cache: the failed compare hands back the current value
  });

  it('an absent key is 0: compareAndSet(0n, x) creates it, and only once', async () => {
    const results = await Promise.all(
      coords.map((c, i) => c.atomicCounter('init').compareAndSet(0n, BigInt(i + 1))),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect(await coord.atomicCounter('init').get()).toBe(BigInt(winner + 1));
  });

  it('bad input is rejected before any request (non-integer delta, outside 64 bits, overflowing result)', async () => {
    const a = coords[1]!.atomicCounter('guarded');
    expect(await a.add(5)).toBe(5n);
    const kv = coords[1]!.client.kv;
    const spies = [vi.spyOn(kv, 'txn'), vi.spyOn(kv, 'range'), vi.spyOn(kv, 'put')];
    try {
      await expect(a.add(1.5)).rejects.toThrow(InvalidArgumentError);
      await expect(a.add(1.5)).rejects.toThrow(/`delta`/);
      await expect(a.add(Number.NaN)).rejects.toThrow(/`delta`/);
      await expect(a.add(2 ** 60)).rejects.toThrow(/safe integer/);
      await expect(a.add(2n ** 63n)).rejects.toThrow(/64-bit/);
      await expect(a.add(-(2n ** 63n) - 1n)).rejects.toThrow(/64-bit/);
      await expect(a.add('1' as unknown as number)).rejects.toThrow(TypeError);
      await expect(a.decrement(0.5)).rejects.toThrow(/`delta`/);
      await expect(a.compareAndSet(1.1, 2)).rejects.toThrow(/`expected`/);
      await expect(a.compareAndSet(1, 2n ** 64n)).rejects.toThrow(/`next`/);
      await expect(a.add(1, { timeoutMs: -5 })).rejects.toThrow(/`timeoutMs`/);
      expect(() => coords[1]!.atomicCounter('x', { maxRetries: -1 })).toThrow(/`maxRetries`/);
      expect(() => coords[1]!.atomicCounter('')).toThrow(/`name`/);
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    // A result outside 64 bits is refused before the write: the value stays.
    expect(await a.compareAndSet(5n, INT64_MAX)).toBe(true);
    await expect(a.add(1)).rejects.toThrow(/overflows/);
    expect(await a.get()).toBe(INT64_MAX);
  });

  it('overflow is judged on the value the compare-and-set compares against, not a stale cached one (issue 16)', async () => {
    const a = coords[4]!.atomicCounter('overflow-stale');
    expect(await a.compareAndSet(0n, INT64_MAX)).toBe(true); // the handle caches INT64_MAX
    await etcd.admin.delete().key(`${etcd.prefix}overflow-stale`).exec(); // the real value is now 0
    expect(await a.add(1)).toBe(1n);
    await etcd.admin.put(`${etcd.prefix}overflow-stale`).value(String(INT64_MAX));
    await expect(a.add(1)).rejects.toThrow(/overflows/); // a fresh value that overflows is still refused
    expect(await a.get()).toBe(INT64_MAX);
  });

  it('a key that does not hold a decimal integer is refused, never overwritten', async () => {
    await etcd.admin.put(`${etcd.prefix}not-a-number`).value('hello');
    const a = coord.atomicCounter('not-a-number');
    await expect(a.add(1)).rejects.toThrow(TypeError);
    await expect(a.get()).rejects.toThrow(/not a decimal integer/);
    expect(await etcd.admin.get(`${etcd.prefix}not-a-number`).string()).toBe('hello');
  });

  it('losing the race more than maxRetries times is a ConflictError, with nothing written by the loser', async () => {
    const loser = coords[2]!.atomicCounter('hot', { maxRetries: 0 });
    await loser.get(); // the handle caches what it saw
    await coords[3]!.atomicCounter('hot').add(1); // now its cache is stale
    const err = await loser.add(100).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as ConflictError).code).toBe('CONFLICT');
    expect(loser.conflicts).toBe(1);
    expect(await loser.get()).toBe(1n);
    expect(await loser.add(100)).toBe(101n); // the failed compare refreshed the cache
  });
});
