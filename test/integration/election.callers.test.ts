/**
 * Issue 14 f2/f5: several callers of one election in ONE process. Two campaign() calls on one session and
 * name share the candidate key `<name>/<lease hex>`, so they take turns in process (as Mutex.lock() does):
 * the second is elected only after the first's term ended. runAsLeader therefore never runs two bodies of
 * one name at once, and `wait: false` runs fn only when elected at once, leaving no key otherwise.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, runAsLeader, type Coordinator } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('election: many callers in one process', () => {
  const etcd = useSharedEtcd('election-callers');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  const keys = async (name: string) => etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).keys();
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it('two campaign() calls on one session: the second is elected only after the first resigns', async () => {
    const c = await coord();
    const first = await c.election('c1').campaign('one');
    let secondElected = false;
    const second = c
      .election('c1')
      .campaign('two')
      .then((t) => ((secondElected = true), t));
    await sleep(300);
    expect(secondElected).toBe(false);
    expect((await c.election('c1').leader())?.value.toString()).toBe('one');
    await first.resign();
    const t2 = await second;
    expect(first.isLeader).toBe(false);
    expect(t2.isLeader).toBe(true);
    expect(t2.fencingToken).toBeGreaterThan(first.fencingToken);
    expect((await c.election('c1').leader())?.value.toString()).toBe('two');
    // The in-process wait is covered by timeoutMs.
    await expect(c.election('c1').campaign('three', { timeoutMs: 200 })).rejects.toMatchObject({
      code: 'LOCK_TIMEOUT',
    });
    expect(t2.isLeader).toBe(true);
    await t2.resign();
    expect(await keys('c1')).toHaveLength(0);
  });

  it('two runAsLeader() on one name and one coordinator: never two bodies at once, both run in turn', async () => {
    const c = await coord();
    let running = 0;
    let overlap = false;
    const body = async () => {
      if (++running > 1) overlap = true;
      await sleep(300);
      running--;
      return 'done';
    };
    const results = await Promise.all([runAsLeader(c, 'c2', body), runAsLeader(c, 'c2', body)]);
    expect(overlap).toBe(false);
    expect(results).toEqual(['done', 'done']);
    expect(await keys('c2')).toHaveLength(0);
  });

  it('wait: false raced by two coordinators: exactly one runs fn, the other returns at once and leaves no key', async () => {
    const [a, b] = [await coord(), await coord()];
    for (let round = 0; round < 4; round++) {
      const name = `c3-${round}`;
      let ran = 0;
      const settled: string[] = [];
      const body = (who: string) => async () => {
        ran++;
        await sleep(800);
        return who;
      };
      const ra = runAsLeader(a, name, body('a'), { wait: false }).then((v) => (settled.push(v ?? '-'), v));
      const rb = runAsLeader(b, name, body('b'), { wait: false }).then((v) => (settled.push(v ?? '-'), v));
      await waitFor(() => settled.length >= 1);
      // The loser settled first, with "not elected", and its key is gone while the winner still runs.
      expect(settled[0]).toBe('-');
      expect(await keys(name)).toHaveLength(1);
      const both = await Promise.all([ra, rb]);
      expect(ran).toBe(1);
      expect(both.filter((v) => v === undefined)).toHaveLength(1);
      expect(await keys(name)).toHaveLength(0);
    }
  });

  it('wait: false twice on one coordinator: one runs fn, the other returns undefined', async () => {
    const c = await coord();
    let ran = 0;
    const body = async () => {
      ran++;
      await sleep(300);
      return 'ran';
    };
    const both = await Promise.all([
      runAsLeader(c, 'c4', body, { wait: false }),
      runAsLeader(c, 'c4', body, { wait: false }),
    ]);
    expect(ran).toBe(1);
    expect(both.sort()).toEqual(['ran', undefined]);
  });
});
