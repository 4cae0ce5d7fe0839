/** coord.kv atomicPut / atomicDelete: one txn each, ConflictError carrying the current pair. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, ConflictError, KeyConflictError, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

async function conflict(p: Promise<unknown>): Promise<KeyConflictError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KeyConflictError);
  expect(err).toBeInstanceOf(ConflictError);
  expect((err as KeyConflictError).code).toBe('CONFLICT');
  return err as KeyConflictError;
}

describe('kv: atomic operations', () => {
  const etcd = useSharedEtcd('kv-atomic');
  let coord: Coordinator;

  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('atomicPut with null creates only if absent; a second create conflicts with the current pair', async () => {
    const kv = coord.kv;
    const created = await kv.atomicPut('c', 'v1', null);
    expect(created).toMatchObject({ key: 'c', version: 1n });
    expect(created.createRevision).toBe(created.lastIndex);
    expect(await kv.get('c')).toEqual(created);
    const err = await conflict(kv.atomicPut('c', 'v2', null));
    expect(err.current).toEqual(created);
    expect((await kv.get('c'))!.value.toString()).toBe('v1');
  });

  it('atomicPut with a pair writes only while the mod revision is unchanged', async () => {
    const kv = coord.kv;
    const first = await kv.put('m', 'a');
    const second = await kv.atomicPut('m', 'b', first);
    expect(second).toMatchObject({ version: 2n, createRevision: first.createRevision });
    expect(await kv.get('m')).toEqual(second);
    // `first` is stale now.
    const err = await conflict(kv.atomicPut('m', 'c', first));
    expect(err.current).toEqual(second);
    // Gone: the conflict carries null.
    await kv.delete('m');
    expect((await conflict(kv.atomicPut('m', 'd', second))).current).toBeNull();
  });

  it('of 10 concurrent atomicPuts from the same pair exactly one wins', async () => {
    const kv = coord.kv;
    const base = await kv.put('race', '0');
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => kv.atomicPut('race', String(i + 1), base)),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof kv.put>>>).value;
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as KeyConflictError).current).toEqual(winner);
    }
  });

  it('atomicDelete deletes only the pair given; ConflictError when changed or gone', async () => {
    const kv = coord.kv;
    const p1 = await kv.put('d', '1');
    const p2 = await kv.put('d', '2');
    expect((await conflict(kv.atomicDelete('d', p1))).current).toEqual(p2);
    expect(await kv.exists('d')).toBe(true);
    await kv.atomicDelete('d', p2);
    expect(await kv.exists('d')).toBe(false);
    expect((await conflict(kv.atomicDelete('d', p2))).current).toBeNull();
  });

  it('a pair of another key is refused before any request', async () => {
    const p = await coord.kv.put('x', '1');
    await expect(coord.kv.atomicPut('y', '2', p)).rejects.toThrow(TypeError);
    await expect(coord.kv.atomicDelete('y', p)).rejects.toThrow(/`previous`/);
  });
});
