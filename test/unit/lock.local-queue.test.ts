/**
 * The in-process FIFO that makes concurrent lock() calls on one session and name take turns (no etcd).
 */
import { describe, expect, it } from 'vitest';
import { isLocallyBusy, takeLocalTurn } from '../../src/lock/local-queue.js';

describe('local lock queue', () => {
  it('grants turns in call order and frees the id after the last release', async () => {
    const order: number[] = [];
    const first = await takeLocalTurn('k1', undefined, 'test');
    const second = takeLocalTurn('k1', undefined, 'test').then((r) => (order.push(2), r));
    const third = takeLocalTurn('k1', undefined, 'test').then((r) => (order.push(3), r));
    await Promise.resolve();
    expect(order).toEqual([]);
    expect(isLocallyBusy('k1')).toBe(true);
    first();
    (await second)();
    (await third)();
    expect(order).toEqual([2, 3]);
    expect(isLocallyBusy('k1')).toBe(false);
  });

  it('a waiter that aborts gives up its turn without letting later callers skip earlier ones', async () => {
    const first = await takeLocalTurn('k2', undefined, 'test');
    const ac = new AbortController();
    const aborted = takeLocalTurn('k2', ac.signal, 'test');
    let thirdIn = false;
    const third = takeLocalTurn('k2', undefined, 'test').then((r) => ((thirdIn = true), r));
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    await new Promise((r) => setTimeout(r, 10));
    expect(thirdIn).toBe(false); // still behind the first holder
    first();
    (await third)();
    expect(isLocallyBusy('k2')).toBe(false);
  });

  it('release is idempotent', async () => {
    const r = await takeLocalTurn('k3', undefined, 'test');
    r();
    r();
    expect(isLocallyBusy('k3')).toBe(false);
  });
});
