/**
 * Semaphore multi-permit (issue 25): `acquire({ permits: n })` takes n permits all or none in one txn, keeps
 * its place in the FIFO, never over-admits under contention (an occupancy checker, with a negative control
 * that the checker does catch over-admission), and `release()` frees every permit it took.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, InvalidArgumentError, type Coordinator, type Lock } from '../../src/index.js';
import { PermitChecker } from '../support/occupancy.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('semaphore: several permits at once', () => {
  const etcd = useSharedEtcd('sem-permits');
  let coords: Coordinator[] = [];
  beforeAll(async () => {
    coords = await Promise.all(
      Array.from({ length: 3 }, () =>
        connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 }),
      ),
    );
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });
  const keys = async (name: string) =>
    (await etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).keys()).length;

  it('bad `permits` is an InvalidArgumentError naming it, and nothing is written', async () => {
    const sem = coords[0]!.semaphore('bad', 3);
    for (const permits of [4, 0, -1, 1.5, 65, Number.NaN, '2']) {
      const err = await sem.acquire({ permits: permits as number }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(String((err as Error).message)).toContain('`permits`');
      const tryErr = await sem.tryAcquire({ permits: permits as number }).catch((e: unknown) => e);
      expect(tryErr).toBeInstanceOf(InvalidArgumentError);
    }
    expect(await keys('bad')).toBe(0);
  });

  it('takes n permits in one step, refuses when they do not all fit, and release frees all', async () => {
    const [a, b] = coords as [Coordinator, Coordinator];
    const three = await a.semaphore('all', 4).acquire({ permits: 3, timeoutMs: 5000 });
    expect(await keys('all')).toBe(3);
    // 3 + 2 > 4: refused, and the refused attempt leaves nothing behind.
    expect(await b.semaphore('all', 4).tryAcquire({ permits: 2 })).toBeNull();
    await waitFor(async () => (await keys('all')) === 3, { message: 'refused keys removed' });
    const one = await b.semaphore('all', 4).tryAcquire();
    expect(one).not.toBeNull();
    await one!.release();
    await three.release();
    expect(await keys('all')).toBe(0);
    const four = await b.semaphore('all', 4).tryAcquire({ permits: 4 });
    expect(four).not.toBeNull();
    await four!.release();
  });

  it('a waiting 3-permit request is not overtaken by a later 1-permit one (FIFO)', async () => {
    const [a, b, c] = coords as [Coordinator, Coordinator, Coordinator];
    const events: string[] = [];
    const first = await a.semaphore('fifo', 3).acquire();
    const big = b
      .semaphore('fifo', 3)
      .acquire({ permits: 3 })
      .then((l) => (events.push('big'), l));
    await waitFor(async () => (await keys('fifo')) === 4, { message: 'big request queued' });
    const small = c
      .semaphore('fifo', 3)
      .acquire()
      .then((l) => (events.push('small'), l));
    await waitFor(async () => (await keys('fifo')) === 5, { message: 'small request queued' });
    await sleep(200);
    expect(events).toEqual([]); // 1 + 1 would fit, but the big request is older
    await first.release();
    const bigLock = await big;
    await sleep(200);
    expect(events).toEqual(['big']);
    await bigLock.release();
    await (await small).release();
    expect(events).toEqual(['big', 'small']);
    expect(await keys('fifo')).toBe(0);
  });

  it("a nested name's key before a 3-permit holder does not hide one of its permits (page boundary)", async () => {
    const [a, b] = coords as [Coordinator, Coordinator];
    // `nested/abc/x` sorts in the permit-key range but is not a permit: the first queue read (3 keys) gets
    // it and only 2 of the holder's 3 keys; the rest of that txn's keys must be read before moving on.
    await etcd.admin.put(`${etcd.prefix}nested/abc/x`).value('');
    const three = await a.semaphore('nested', 3).acquire({ permits: 3 });
    expect(await b.semaphore('nested', 3).tryAcquire()).toBeNull();
    await three.release();
    const one = await b.semaphore('nested', 3).tryAcquire();
    expect(one).not.toBeNull();
    await one!.release();
    await etcd.admin.delete().key(`${etcd.prefix}nested/abc/x`).exec();
  });

  /** Workers on every coordinator take 1..3 of `total` permits in a loop; the checker counts them. */
  async function contend(
    name: string,
    total: number,
    claim: (want: number) => { take: number; use: number },
  ): Promise<PermitChecker> {
    const checker = new PermitChecker(total);
    let stop = false;
    let cycles = 0;
    const worker = async (c: Coordinator, w: number) => {
      const sem = c.semaphore(name, total);
      let i = w;
      while (!stop) {
        const { take, use } = claim((i++ % 3) + 1);
        const lock: Lock = await sem.acquire({ permits: take, timeoutMs: 20_000 });
        checker.enter(use, `worker ${w}`);
        await sleep(2 + (i % 5));
        checker.leave(use);
        await lock.release();
        cycles++;
      }
    };
    const runs = coords.flatMap((c, ci) => [0, 1].map((k) => worker(c, ci * 2 + k)));
    await waitFor(() => cycles >= 60 || checker.violations.length > 0, {
      timeoutMs: 30_000,
      message: 'contention cycles',
    });
    stop = true;
    await Promise.all(runs);
    return checker;
  }

  it('never more than `permits` in use under contention (6 workers, 1-3 permits each of 4)', async () => {
    const checker = await contend('load', 4, (want) => ({ take: want, use: want }));
    expect(checker.violations).toEqual([]);
    expect(checker.max).toBeGreaterThan(1);
    expect(await keys('load')).toBe(0);
  }, 60_000);

  it('negative control: the checker catches over-admission (callers take 1 key but use more)', async () => {
    const checker = await contend('control', 4, (want) => ({ take: 1, use: want }));
    expect(checker.violations.length).toBeGreaterThan(0);
  }, 60_000);
});
