/**
 * `rw.holders()` / `rw.waiters()` and `semaphore.holders()` / `semaphore.waiters()` (issue 25): every
 * acquisition once, in queue order, with key, fencing token, lease and mode (RW) or permits (semaphore),
 * read at one revision; a long queue is paged without splitting one txn's keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('lock participants', () => {
  const etcd = useSharedEtcd('lock-participants');
  let coords: Coordinator[] = [];
  beforeAll(async () => {
    coords = await Promise.all(
      Array.from({ length: 4 }, () =>
        connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });
  const acquisitions = async (name: string) => {
    const res = await etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).exec();
    return new Set(res.kvs.map((kv) => kv.create_revision)).size;
  };
  const brief = (ps: { key: string; mode?: string; permits?: number }[]) =>
    ps.map((x) => `${x.mode ?? x.permits}:${x.key.replace(/^.*\//, '').slice(0, 4)}`);

  it('rwMutex: holders and waiters in queue order with mode, token and lease; a downgrade reads as a reader', async () => {
    const [a, b, c, d] = coords as [Coordinator, Coordinator, Coordinator, Coordinator];
    const rw = a.rwMutex('rw');
    expect(await rw.holders()).toEqual([]);
    expect(await rw.waiters()).toEqual([]);
    const r1 = await a.rwMutex('rw').readLock();
    const r2 = await b.rwMutex('rw').readLock();
    const w = c.rwMutex('rw').writeLock();
    await waitFor(async () => (await acquisitions('rw')) === 3, { message: 'writer queued' });
    const r3 = d.rwMutex('rw').readLock();
    await waitFor(async () => (await acquisitions('rw')) === 4, { message: 'reader queued' });
    const holders = await rw.holders();
    expect(holders.map((h) => h.key)).toEqual([r1.key, r2.key]);
    expect(holders.map((h) => h.fencingToken)).toEqual([r1.fencingToken, r2.fencingToken]);
    expect(holders.map((h) => h.leaseId)).toEqual([r1.leaseId, r2.leaseId]);
    expect(holders.map((h) => h.mode)).toEqual(['read', 'read']);
    const waiters = await rw.waiters();
    expect(waiters.map((x) => x.mode)).toEqual(['write', 'read']);
    expect(waiters[0]!.key).toMatch(/^rw\/write\//); // the writer, named by its write key (not its companion)
    expect(waiters[0]!.leaseId).toBe(c.session.leaseId);
    expect(waiters[1]!.leaseId).toBe(d.session.leaseId);
    await r1.unlock();
    await r2.unlock();
    const wl = await w;
    expect((await rw.holders()).map((h) => [h.key, h.mode, h.fencingToken])).toEqual([
      [wl.key, 'write', wl.fencingToken],
    ]);
    const down = await wl.downgrade();
    await (await r3).unlock();
    expect((await rw.holders()).map((h) => [h.key, h.mode, h.fencingToken])).toEqual([
      [down.key, 'read', wl.fencingToken],
    ]);
    await down.unlock();
    expect(await rw.holders()).toEqual([]);
  });

  it('semaphore: each acquisition once with its permits; holders are the oldest that fit', async () => {
    const [a, b, c] = coords as [Coordinator, Coordinator, Coordinator];
    const sem = a.semaphore('sem', 4);
    const two = await a.semaphore('sem', 4).acquire({ permits: 2 });
    const one = await b.semaphore('sem', 4).acquire();
    const three = c.semaphore('sem', 4).acquire({ permits: 3 });
    await waitFor(async () => (await acquisitions('sem')) === 3, { message: '3-permit request queued' });
    const late = b.semaphore('sem', 4).acquire();
    await waitFor(async () => (await acquisitions('sem')) === 4, { message: 'late request queued' });
    expect(brief(await sem.holders()).map((s) => s.split(':')[0])).toEqual(['2', '1']);
    const holders = await sem.holders();
    expect(holders.map((h) => h.fencingToken)).toEqual([two.fencingToken, one.fencingToken]);
    expect(holders[0]!.key).toBe(two.key);
    expect((await sem.waiters()).map((w) => [w.permits, w.leaseId])).toEqual([
      [3, c.session.leaseId],
      [1, b.session.leaseId],
    ]);
    await two.release();
    await one.release();
    const threeLock = await three;
    const lateLock = await late;
    expect((await sem.holders()).map((h) => h.permits)).toEqual([3, 1]);
    expect(await sem.waiters()).toEqual([]);
    await threeLock.release();
    await lateLock.release();
    expect(await sem.holders()).toEqual([]);
  });

  it('a queue longer than a page: every acquisition once, none split (one txn of 7 keys each)', async () => {
    // 180 acquisitions of 7 keys (1260 keys): pages of 1000 end inside one txn's keys.
    const name = 'long';
    const groups = 180;
    for (let g = 0; g < groups; g++) {
      const txn = etcd.admin
        .if(`${etcd.prefix}${name}/x`, 'Create', '==', 0)
        .then(
          ...Array.from({ length: 7 }, (_, k) =>
            etcd.admin
              .put(
                `${etcd.prefix}${name}/${(g + 1).toString(16)}_${(g * 7 + k).toString(16).padStart(12, '0')}`,
              )
              .value(''),
          ),
        );
      await txn.commit();
    }
    const sem = coords[0]!.semaphore(name, 14);
    const holders = await sem.holders();
    const waiters = await sem.waiters();
    expect(holders.map((h) => h.permits)).toEqual([7, 7]);
    expect(waiters).toHaveLength(groups - 2);
    expect(waiters.every((w) => w.permits === 7)).toBe(true);
    const tokens = [...holders, ...waiters].map((x) => x.fencingToken);
    expect(tokens).toEqual([...tokens].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
    expect(new Set(tokens).size).toBe(groups);
    await etcd.admin.delete().prefix(`${etcd.prefix}${name}/`).exec();
  });
});
