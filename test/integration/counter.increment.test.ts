/** Counter (version-based): one put per increment; unique, gap-free values under contention. */
import { describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('Counter', () => {
  const etcd = useSharedEtcd('counter-incr');
  const open = (ns = etcd.prefix): Promise<Coordinator> =>
    connect({ endpoints: etcd.endpoints, namespace: ns, ttlSeconds: 2 });

  it('16 clients × 200 increments hand out exactly 1..3200, each once', async () => {
    const coords = await Promise.all(Array.from({ length: 16 }, () => open()));
    try {
      const perClient = await Promise.all(
        coords.map(async (coord) => {
          const counter = coord.counter('ids/order');
          const got: bigint[] = [];
          // Each client keeps several increments in flight, so the puts really contend.
          await Promise.all(
            Array.from({ length: 4 }, async () => {
              for (let i = 0; i < 50; i++) got.push(await counter.increment());
            }),
          );
          return got;
        }),
      );
      const all = perClient.flat().sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      expect(all).toHaveLength(3200);
      expect(all).toEqual(Array.from({ length: 3200 }, (_, i) => BigInt(i + 1)));
      expect(await coords[0]!.counter('ids/order').get()).toBe(3200n);
    } finally {
      await Promise.all(coords.map((c) => c.close()));
    }
  });

  it('increment is ONE put that returns the key version; get() reads it; nothing else is stored', async () => {
    const coord = await open();
    try {
      const c = coord.counter('one-put');
      expect(await c.get()).toBe(0n);
      expect(await c.increment()).toBe(1n);
      expect(await c.increment()).toBe(2n);
      const raw = await etcd.admin.get(`${etcd.prefix}one-put`).exec();
      expect(raw.kvs[0]?.version).toBe('2');
      expect(raw.kvs[0]?.value.length).toBe(0);
      expect(await c.get()).toBe(2n);
    } finally {
      await coord.close();
    }
  });

  it('reset() deletes the key: it returns the last value and the version restarts at 1', async () => {
    const coord = await open();
    try {
      const c = coord.counter('resettable');
      for (let i = 0; i < 3; i++) await c.increment();
      expect(await c.reset()).toBe(3n);
      expect(await c.get()).toBe(0n);
      expect(await etcd.admin.get(`${etcd.prefix}resettable`).exists()).toBe(false);
      expect(await c.increment()).toBe(1n);
      expect(await c.reset()).toBe(1n);
      expect(await c.reset()).toBe(0n); // already gone
    } finally {
      await coord.close();
    }
  });

  it('rejects a bad name or options before any request', async () => {
    const coord = await open();
    try {
      expect(() => coord.counter('')).toThrow(/`name`/);
      expect(() => coord.counter('a\0b')).toThrow(/`name`/);
      await expect(coord.counter('x').increment({ timeoutMs: -1 })).rejects.toThrow(/`timeoutMs`/);
      const aborted = AbortSignal.abort();
      await expect(coord.counter('x').increment({ signal: aborted })).rejects.toMatchObject({
        code: 'ABORTED',
      });
      expect(await coord.counter('x').get()).toBe(0n);
    } finally {
      await coord.close();
    }
  });
});
