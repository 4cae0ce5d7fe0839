/** coord.kv conformance: get/put/exists/delete/list/deleteTree and bad input refused before any request. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, InvalidArgumentError, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('kv: plain keys', () => {
  const etcd = useSharedEtcd('kv-basic');
  let coord: Coordinator;

  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('put then get returns the pair, with the key relative to the namespace and etcd revisions', async () => {
    const kv = coord.kv;
    expect(await kv.get('a')).toBeNull();
    const put = await kv.put('a', 'one');
    const got = await kv.get('a');
    expect(got).toEqual(put);
    expect(got).toMatchObject({ key: 'a', version: 1n, leaseId: 0n });
    expect(got!.value.toString()).toBe('one');
    expect(got!.createRevision).toBe(got!.lastIndex);
    // The raw key is namespaced.
    expect(await etcd.admin.get(`${etcd.prefix}a`).string()).toBe('one');

    const again = await kv.put('a', Buffer.from('two'));
    expect(again).toMatchObject({ version: 2n, createRevision: put.createRevision });
    expect(again.lastIndex).toBeGreaterThan(put.lastIndex);
    expect(await kv.get('a')).toEqual(again);
    await kv.put('a', new Uint8Array([0, 1, 255]));
    expect([...(await kv.get('a'))!.value]).toEqual([0, 1, 255]);
  });

  it('exists and delete report whether the key existed', async () => {
    const kv = coord.kv;
    await kv.put('e', '');
    expect(await kv.exists('e')).toBe(true);
    expect(await kv.delete('e')).toBe(true);
    expect(await kv.exists('e')).toBe(false);
    expect(await kv.delete('e')).toBe(false);
    expect(await kv.get('e')).toBeNull();
  });

  it('list reads every key under a prefix at one revision, across pages, in key order; [] when none', async () => {
    const kv = coord.kv;
    expect(await kv.list('dir/')).toEqual([]);
    const keys = Array.from({ length: 23 }, (_, i) => `dir/${String(i).padStart(2, '0')}`);
    for (const k of keys) await kv.put(k, k.toUpperCase());
    await kv.put('dirx', 'not under dir/');
    const list = await kv.list('dir/', { pageSize: 5 });
    expect(list.map((p) => p.key)).toEqual(keys);
    expect(list.map((p) => p.value.toString())).toEqual(keys.map((k) => k.toUpperCase()));
    for (const p of list) expect(await kv.get(p.key)).toEqual(p);
    // The whole namespace: the generation marker (a NUL key) is never listed.
    expect((await kv.list('')).map((p) => p.key)).toEqual(expect.arrayContaining([...keys, 'dirx']));
    expect((await kv.list('')).some((p) => p.key.includes('\0'))).toBe(false);
  });

  it('deleteTree deletes every key under the prefix in one request and says how many', async () => {
    const kv = coord.kv;
    for (const k of ['tree/a', 'tree/b/c', 'tree/b/d', 'treeish']) await kv.put(k, 'x');
    expect(await kv.deleteTree('tree/')).toBe(3);
    expect(await kv.list('tree/')).toEqual([]);
    expect(await kv.exists('treeish')).toBe(true);
    expect(await kv.deleteTree('tree/')).toBe(0);
  });

  it('rejects bad input before any request, naming the argument', async () => {
    const kv = coord.kv;
    const cases: [() => Promise<unknown> | unknown, RegExp][] = [
      [() => kv.get(''), /`key`/],
      [() => kv.put('a\0b', 'v'), /`key`.*NUL/],
      [() => kv.put(42 as unknown as string, 'v'), /`key`/],
      [() => kv.put('k', 7 as unknown as string), /`value`/],
      [() => kv.put('k', Buffer.alloc(1_600_000)), /`value`.*1\.5 MiB/],
      [() => kv.put('k', 'v', { ttlSeconds: 1 }), /`ttlSeconds`.*≥ 2/],
      [() => kv.put('k', 'v', { ttlSeconds: 2.5 }), /`ttlSeconds`/],
      [() => kv.put('k', 'v', { timeoutMs: -1 }), /`timeoutMs`/],
      [() => kv.delete(''), /`key`/],
      [() => kv.exists('\0'), /`key`/],
      [() => kv.deleteTree(''), /`prefix`/],
      [() => kv.list(1 as unknown as string), /`prefix`/],
      [() => kv.atomicPut('k', 'v', undefined as unknown as null), /`previous`/],
      [() => kv.atomicDelete('k', null as unknown as never), /`previous`/],
      [() => kv.watch(''), /`key`/],
      [() => kv.watchTree('a\0'), /`prefix`/],
      [() => kv.lock('', {}), /`key`/],
      [() => kv.lock('l', { ttlSeconds: 1 }), /`ttlSeconds`/],
      [() => kv.lock('l', { value: Buffer.alloc(1_600_000) }), /`value`/],
    ];
    // Nothing written under this suite's prefix (the shared etcd's revision moves with other files' writes).
    const written = async () =>
      (await etcd.admin.getAll().prefix(etcd.prefix).exec()).kvs
        .map((kv) => `${kv.key.toString()}@${kv.mod_revision}`)
        .sort();
    const before = await written();
    for (const [call, message] of cases) {
      let err: unknown;
      try {
        await call();
      } catch (e) {
        err = e;
      }
      expect(err, String(message)).toBeInstanceOf(Error);
      expect(err instanceof TypeError || err instanceof InvalidArgumentError, String(err)).toBe(true);
      expect((err as Error).message).toMatch(message);
    }
    // Nothing was written.
    expect(await written()).toEqual(before);
  });

  it('a value at the limit is accepted', async () => {
    const big = Buffer.alloc(1_500_000, 7);
    const pair = await coord.kv.put('big', big);
    expect((await coord.kv.get('big'))!.value.equals(big)).toBe(true);
    expect(pair.value.length).toBe(big.length);
    await coord.kv.delete('big');
  });
});
