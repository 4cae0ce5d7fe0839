/**
 * Issue 14 f2: several once() callers in ONE process (one coordinator, one session) for one slot. Their
 * candidate keys would be the same `<name>/<lease hex>`: they take turns in process, so the job runs once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, once, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('once(): many callers on one coordinator', () => {
  const etcd = useSharedEtcd('once-callers');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it('three concurrent once() calls for one slot on one coordinator: the job runs once, the others skip', async () => {
    const c = await coord();
    for (const slot of ['s1', 's2', 's3']) {
      let runs = 0;
      let running = 0;
      let overlap = false;
      const job = async () => {
        runs++;
        if (++running > 1) overlap = true;
        await sleep(200);
        running--;
        return slot;
      };
      const results = await Promise.all([1, 2, 3].map(() => once(c, 'shared', { slot }, job)));
      expect(overlap).toBe(false);
      expect(runs).toBe(1);
      expect(results.map((r) => r.status).sort()).toEqual(['ran', 'skipped', 'skipped']);
    }
  });

  it('with ttlSeconds (a lease per call): still one run per slot', async () => {
    const c = await coord();
    let runs = 0;
    const job = async () => {
      runs++;
      await sleep(200);
    };
    const results = await Promise.all(
      [1, 2, 3].map(() => once(c, 'own-lease', { slot: 's', ttlSeconds: 2 }, job)),
    );
    expect(runs).toBe(1);
    expect(results.filter((r) => r.status === 'skipped')).toHaveLength(2);
  });

  it('a second caller waiting in process for the slot honours its timeoutMs and signal', async () => {
    const c = await coord();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = once(c, 'slow', { slot: 'x' }, () => gate.then(() => 'first'));
    await sleep(200);
    await expect(once(c, 'slow', { slot: 'x', timeoutMs: 300 }, async () => 'second')).rejects.toMatchObject({
      code: 'LOCK_TIMEOUT',
    });
    const ac = new AbortController();
    const aborted = once(c, 'slow', { slot: 'x', signal: ac.signal }, async () => 'third');
    setTimeout(() => ac.abort(), 200);
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    release();
    expect(await first).toMatchObject({ status: 'ran', value: 'first' });
  });
});
