/** coord.kv watch / watchTree: current state first, then every revision once, in order; one etcd watcher. */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type KeyUpdate, type TreeUpdate } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

/** Pulls items from an iterator into an array in the background. */
function collect<T>(it: AsyncIterable<T>): { items: T[]; done: Promise<void> } {
  const items: T[] = [];
  const done = (async () => {
    for await (const item of it) items.push(item);
  })();
  return { items, done };
}

describe('kv: watch and watchTree', () => {
  const etcd = useSharedEtcd('kv-watch');
  let coord: Coordinator;
  const full = (k: string) => `${etcd.prefix}${k}`;

  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('watch(key): null first when absent, then each put and delete of that key only', async () => {
    const ac = new AbortController();
    const { items, done } = collect<KeyUpdate>(coord.kv.watch('w/a', { signal: ac.signal }));
    await waitFor(() => items.length === 1);
    expect(items[0]).toMatchObject({ key: 'w/a', pair: null, reset: false });
    const p1 = await coord.kv.put('w/a', '1');
    await coord.kv.put('w/ab', 'not this key');
    const p2 = await coord.kv.put('w/a', '2');
    await coord.kv.delete('w/a');
    await waitFor(() => items.length === 4);
    expect(items.slice(1).map((i) => i.pair)).toEqual([p1, p2, null]);
    expect(items[1]!.revision).toBe(p1.lastIndex);
    expect(items.map((i) => i.revision)).toEqual(
      [...items.map((i) => i.revision)].sort((a, b) => (a < b ? -1 : 1)),
    );
    ac.abort();
    await done;
  });

  it('watch(key) of an existing key starts with its current pair', async () => {
    const pair = await coord.kv.put('w/existing', 'v');
    const it = coord.kv.watch('w/existing');
    const first = await it.next();
    expect(first.value).toEqual({ key: 'w/existing', pair, revision: expect.any(BigInt), reset: false });
    expect((first.value as KeyUpdate).revision).toBeGreaterThanOrEqual(pair.lastIndex);
    await it.return();
    expect(await it.next()).toEqual({ done: true, value: undefined });
  });

  it('watchTree: the whole prefix first, then one item per revision with its changes', async () => {
    await coord.kv.put('t/a', '1');
    const ac = new AbortController();
    const { items, done } = collect<TreeUpdate>(coord.kv.watchTree('t/', { signal: ac.signal }));
    await waitFor(() => items.length === 1);
    expect(items[0]!.pairs.map((p) => p.key)).toEqual(['t/a']);
    expect(items[0]!.changes).toEqual([]);
    await coord.kv.put('t/c', '3');
    // Two keys in one txn: one revision, one item.
    await etcd.admin
      .if(full('t/a'), 'Version', '>', 0)
      .then(etcd.admin.put(full('t/b')).value('2'), etcd.admin.delete().key(full('t/a')))
      .commit();
    await coord.kv.put('u/outside', 'x');
    await waitFor(() => items.length === 3);
    expect(items[1]!.changes.map((c) => [c.type, c.key])).toEqual([['put', 't/c']]);
    expect(items[2]!.changes.map((c) => [c.type, c.key])).toEqual([
      ['put', 't/b'],
      ['delete', 't/a'],
    ]);
    expect(items[2]!.pairs.map((p) => [p.key, p.value.toString()])).toEqual([
      ['t/b', '2'],
      ['t/c', '3'],
    ]);
    expect(items[2]!.pairs).toEqual(await coord.kv.list('t/'));
    ac.abort();
    await done;
  });

  it('many watch/watchTree on one coordinator share etcd watchers; break releases them', async () => {
    const hub = coord.watchHub;
    const base = hub.watcherCount;
    const trees = Array.from({ length: 50 }, () => coord.kv.watchTree('fan/'));
    const keys = Array.from({ length: 50 }, () => coord.kv.watch('fan/k'));
    await Promise.all([...trees, ...keys].map((it) => it.next()));
    expect(hub.watcherCount).toBe(base + 2);
    const put = await coord.kv.put('fan/k', 'v');
    const [treeItems, keyItems] = await Promise.all([
      Promise.all(trees.map((it) => it.next())),
      Promise.all(keys.map((it) => it.next())),
    ]);
    for (const r of treeItems) expect((r.value as TreeUpdate).pairs).toEqual([put]);
    for (const r of keyItems) expect((r.value as KeyUpdate).pair).toEqual(put);
    // A `break` in for-await calls return() (each tree has an item pending, so the loop body runs).
    await coord.kv.put('fan/x', 'y');
    for (const it of trees) {
      for await (const _ of it) break;
    }
    expect(hub.watcherCount).toBe(base + 1);
    await Promise.all(keys.map((it) => it.return()));
    expect(hub.watcherCount).toBe(base);
  });

  it('coord.close() ends every open watch', async () => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 });
    const { items, done } = collect(c.kv.watchTree('closing/'));
    await waitFor(() => items.length === 1);
    await c.close();
    await done;
  });

  it('property: every revision once, in order, each item equal to a direct read at its revision', async () => {
    let run = 0;
    const op = fc.oneof(
      fc.record({
        type: fc.constant('put' as const),
        key: fc.constantFrom('a', 'b', 'c', 'd/e'),
        v: fc.nat(99),
      }),
      fc.record({ type: fc.constant('del' as const), key: fc.constantFrom('a', 'b', 'c', 'd/e') }),
      fc.record({ type: fc.constant('txn' as const), v: fc.nat(99) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        const prefix = `prop${run++}/`;
        const ac = new AbortController();
        const { items, done } = collect<TreeUpdate>(coord.kv.watchTree(prefix, { signal: ac.signal }));
        const keyItems = collect<KeyUpdate>(coord.kv.watch(`${prefix}a`, { signal: ac.signal }));
        await waitFor(() => items.length === 1 && keyItems.items.length === 1);
        const written: bigint[] = [];
        const aRevisions: bigint[] = [];
        for (const o of ops) {
          const k = full(prefix + ('key' in o ? o.key : 'a'));
          let rev: bigint;
          if (o.type === 'put')
            rev = BigInt((await etcd.admin.put(k).value(String(o.v)).exec()).header.revision);
          else if (o.type === 'del') {
            const res = await etcd.admin.delete().key(k).exec();
            if (res.deleted === '0') continue; // no revision
            rev = BigInt(res.header.revision);
          } else {
            const res = await etcd.admin
              .if(k, 'Version', '>', -1)
              .then(etcd.admin.put(k).value(`t${o.v}`), etcd.admin.put(full(`${prefix}b`)).value(`t${o.v}`))
              .commit();
            rev = BigInt(res.header.revision);
          }
          written.push(rev);
          if (k === full(`${prefix}a`)) aRevisions.push(rev);
        }
        await waitFor(
          () => items.length === written.length + 1 && keyItems.items.length === aRevisions.length + 1,
        );
        expect(items.slice(1).map((i) => i.revision)).toEqual(written);
        expect(keyItems.items.slice(1).map((i) => i.revision)).toEqual(aRevisions);
        for (const item of items) {
          expect(item.reset).toBe(false);
          const direct = await etcd.admin.kv.range({
            key: Buffer.from(full(prefix)),
            range_end: Buffer.from(full(prefix.slice(0, -1) + '0')),
            revision: item.revision.toString(),
          });
          expect(item.pairs.map((p) => [p.key, p.value.toString(), p.lastIndex])).toEqual(
            direct.kvs.map((kv) => [
              kv.key.toString().slice(etcd.prefix.length),
              kv.value.toString(),
              BigInt(kv.mod_revision),
            ]),
          );
        }
        ac.abort();
        await Promise.all([done, keyItems.done]);
      }),
      { numRuns: 15 },
    );
  });
});
