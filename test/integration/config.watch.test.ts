/**
 * Watched config against the shared etcd: nested load, one change per revision, multi-key txns,
 * async iteration, the conflicting-shapes rule and one shared etcd watcher for many instances.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import type { ConfigChangeInfo, ConfigObject } from '../../src/config/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('WatchedConfig: load and follow', () => {
  const etcd = useSharedEtcd('config-watch');
  let coord: Coordinator;
  const full = (k: string) => `${etcd.prefix}${k}`;

  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('loads keys under the prefix as a nested object, JSON-decoded with a string fallback', async () => {
    await etcd.admin.put(full('load/config/db/url')).value('postgres://db:5432/app');
    await etcd.admin.put(full('load/config/db/pool')).value('10');
    await etcd.admin.put(full('load/config/features')).value('{"beta":true,"list":[1,2]}');
    await etcd.admin.put(full('load/configX')).value('outside');
    // No trailing slash given: the prefix is still the folder, so `load/configX` stays out.
    const cfg = await coord.config('load/config');
    try {
      expect(cfg.prefix).toBe('load/config/');
      expect(cfg.value).toEqual({
        db: { url: 'postgres://db:5432/app', pool: 10 },
        features: { beta: true, list: [1, 2] },
      });
      expect(cfg.revision).toBeGreaterThan(0n);
      expect(cfg.modRevision('db/pool')).toBeGreaterThan(0n);
      expect(cfg.modRevision('missing')).toBe(0n);
    } finally {
      await cfg.close();
    }
  });

  it('every revision under the prefix is one change, in order; a multi-key txn is one change; writes outside are ignored', async () => {
    const cfg = await coord.config('follow/config/');
    const changes: { next: ConfigObject; prev: ConfigObject; info: ConfigChangeInfo }[] = [];
    cfg.on('change', (next, prev, info) => changes.push({ next, prev, info }));
    try {
      const r1 = await etcd.admin.put(full('follow/config/a')).value('1').exec();
      await etcd.admin.put(full('follow/configX')).value('nope');
      const t = await etcd.admin
        .if(full('follow/config/a'), 'Create', '>', 0)
        .then(
          etcd.admin.put(full('follow/config/b/c')).value('"two"'),
          etcd.admin.put(full('follow/config/b/d')).value('three'),
          etcd.admin.delete().key(full('follow/config/a')),
        )
        .commit();
      const r3 = await etcd.admin.put(full('follow/config/a')).value('4').exec();
      await waitFor(() => changes.length >= 3, { message: '3 changes' });
      expect(changes.map((c) => c.info.revision)).toEqual([
        BigInt(r1.header.revision),
        BigInt(t.header.revision),
        BigInt(r3.header.revision),
      ]);
      expect(changes[0]).toMatchObject({ prev: {}, next: { a: 1 }, info: { changedKeys: ['a'] } });
      expect(changes[1]?.next).toEqual({ b: { c: 'two', d: 'three' } });
      expect(changes[1]?.info.changedKeys.sort()).toEqual(['a', 'b/c', 'b/d']);
      expect(changes[2]?.next).toEqual({ a: 4, b: { c: 'two', d: 'three' } });
      expect(cfg.value).toEqual(changes[2]?.next);
      expect(cfg.revision).toBe(BigInt(r3.header.revision));
    } finally {
      await cfg.close();
    }
  });

  it('conflicting shapes: the deeper key wins and the shadowed key is reported through `conflict`', async () => {
    const cfg = await coord.config('shape/config/');
    const reported: string[][] = [];
    cfg.on('conflict', (conflicts) => reported.push(conflicts.map((c) => `${c.key}<${c.by ?? ''}`)));
    try {
      await cfg.set('db', 'a leaf');
      await cfg.set('db/url', 'x');
      expect(cfg.value).toEqual({ db: { url: 'x' } });
      expect(cfg.conflicts).toEqual([{ key: 'db', reason: 'shadowed', by: 'db/url' }]);
      await cfg.delete('db/url');
      expect(cfg.value).toEqual({ db: 'a leaf' });
      expect(cfg.conflicts).toEqual([]);
      expect(reported).toEqual([['db<db/url'], []]);
    } finally {
      await cfg.close();
    }
  });

  it('for await yields the current value, then later values; break removes its listener', async () => {
    const cfg = await coord.config('iter/config/');
    try {
      const seen: unknown[] = [];
      const listeners = cfg.listenerCount('change');
      for await (const value of cfg) {
        seen.push(value);
        if (seen.length === 1) await etcd.admin.put(full('iter/config/n')).value('1');
        if (seen.length === 2) break;
      }
      expect(seen).toEqual([{}, { n: 1 }]);
      expect(cfg.listenerCount('change')).toBe(listeners);
    } finally {
      await cfg.close();
    }
  });

  it('an iterator ends when the config closes', async () => {
    const cfg = await coord.config('iter2/config/');
    const seen: unknown[] = [];
    const loop = (async () => {
      for await (const value of cfg.values()) seen.push(value);
    })();
    await waitFor(() => seen.length === 1);
    await cfg.close();
    await loop;
    expect(seen).toEqual([{}]);
  });

  it('many instances on one prefix share one etcd watcher, and all follow every update', async () => {
    const before = coord.watchHub.watcherCount;
    const ranges = vi.spyOn(coord.client.kv, 'range');
    const cfgs = await Promise.all(Array.from({ length: 50 }, () => coord.config('fan/config/')));
    try {
      expect(coord.watchHub.watcherCount).toBe(before + 1);
      // Attached together, they share reads: the first one's snapshot and one join read for the rest.
      expect(ranges.mock.calls.length).toBeLessThanOrEqual(2);
      ranges.mockRestore();
      await etcd.admin.put(full('fan/config/v')).value('7');
      await waitFor(() => cfgs.every((c) => (c.value as { v?: number }).v === 7), {
        message: 'all 50 updated',
      });
      // An instance on another prefix is another watcher.
      const other = await coord.config('fan2/config/');
      expect(coord.watchHub.watcherCount).toBe(before + 2);
      await other.close();
    } finally {
      await Promise.all(cfgs.map((c) => c.close()));
    }
    expect(coord.watchHub.watcherCount).toBe(before);
  });

  it('a config attached while others follow the prefix still reads every write completed before it', async () => {
    const first = await coord.config('late/config/');
    try {
      for (let i = 1; i <= 5; i++) {
        await etcd.admin.put(full('late/config/n')).value(String(i));
        const late = await coord.config('late/config/');
        expect(late.value).toEqual({ n: i });
        await late.close();
      }
      expect(coord.watchHub.watcherCount).toBeGreaterThan(0);
    } finally {
      await first.close();
    }
  });

  it('configs joining during a burst of writes miss nothing: a multi-page join read, updates buffered meanwhile', async () => {
    // Over 1,000 keys: the join read takes two pages, and writes land while it is in flight.
    for (let i = 0; i < 1100; i += 100) {
      const puts = Array.from({ length: 100 }, (_, j) =>
        etcd.admin.put(full(`burst/config/k/${String(i + j).padStart(4, '0')}`)).value('0'),
      );
      await etcd.admin
        .if(full('burst/none'), 'Create', '==', 0)
        .then(...puts)
        .commit();
    }
    const first = await coord.config('burst/config/');
    const late: { start: bigint; startN: unknown; seen: unknown[] }[] = [];
    const writes: bigint[] = [];
    try {
      const attaching = Array.from({ length: 20 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i * 3));
        const cfg = await coord.config('burst/config/');
        const entry = {
          start: cfg.revision,
          startN: (cfg.value as { n?: unknown }).n,
          seen: [] as unknown[],
        };
        cfg.on('change', (next) => entry.seen.push((next as { n?: unknown }).n));
        late.push(entry);
        return cfg;
      });
      for (let n = 1; n <= 30; n++) {
        const res = await etcd.admin.put(full('burst/config/n')).value(String(n)).exec();
        writes.push(BigInt(res.header.revision));
      }
      const cfgs = await Promise.all(attaching);
      await waitFor(() => cfgs.every((c) => (c.value as { n?: number }).n === 30), {
        message: 'all at n=30',
      });
      for (const entry of late) {
        // Its first value is the store at its start revision; then every later write, once, in order.
        const before = writes.filter((r) => r <= entry.start).length;
        expect(entry.startN).toBe(before === 0 ? undefined : before);
        expect(entry.seen).toEqual(Array.from({ length: 30 - before }, (_, i) => before + i + 1));
      }
      await Promise.all(cfgs.map((c) => c.close()));
    } finally {
      await first.close();
    }
  });

  it('coord.close() closes every config it made; close() is idempotent', async () => {
    const own = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    const cfg = await own.config('closing/config/');
    await own.close();
    await cfg.close();
    await cfg.close();
    expect(own.watchHub.watcherCount).toBe(0);
  });
});
