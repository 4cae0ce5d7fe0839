/**
 * Bounded queues (`maxSize`) on the shared etcd: a full queue makes a push wait for room on its watch (no
 * polling) or fail with QUEUE_FULL; claimed jobs count until settled; batches need room for all their
 * jobs; and concurrent pushers from several clients never overshoot the bound (the guard is server-side).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, connect, QueueFullError, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

/** Counts the KV requests (range, put, delete, txn) the coordinator's client sends. */
function countKv(coord: Coordinator): () => number {
  let n = 0;
  const kv = (coord.client as unknown as Record<string, Record<string, (...a: unknown[]) => unknown>>)['kv']!;
  for (const m of ['range', 'put', 'deleteRange', 'txn']) {
    const orig = kv[m]!.bind(kv);
    kv[m] = (...a: unknown[]) => {
      n++;
      return orig(...a);
    };
  }
  return () => n;
}

describe('bounded queue', () => {
  const etcd = useSharedEtcd('queue-bounded');
  let coord: Coordinator;
  let other: Coordinator;

  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    other = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
    await other.close();
  });

  it('a full queue refuses a push with wait: false (QUEUE_FULL), a batch as a whole, and writes nothing', async () => {
    const q = coord.queue<number>('full', { maxSize: 3 });
    await q.push(1);
    await q.pushMany([2, 3]);
    const err = await q.push(4, { wait: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueFullError);
    expect(err).toMatchObject({ code: 'QUEUE_FULL' });
    expect((err as Error).message).toMatch(/"full" is full \(3 of maxSize 3/);
    await expect(q.pushMany([4, 5], { wait: false })).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    // Claimed jobs still count: they are not done.
    const job = await q.pop({ timeoutMs: 10_000 });
    await expect(q.push(4, { wait: false })).rejects.toBeInstanceOf(QueueFullError);
    expect(await q.size()).toBe(3);
    await job.ack();
    await q.push(4, { wait: false });
    expect(await q.size()).toBe(3);
    await q.close();
  });

  it('by default a push waits for room on the watch, sending nothing meanwhile, and lands after an ack elsewhere', async () => {
    const q = coord.queue<string>('wait', { maxSize: 2 });
    await q.pushMany(['a', 'b']);
    const requests = countKv(coord);
    let landed = false;
    const pushing = q.push('c').then((id) => {
      landed = true;
      return id;
    });
    await sleep(300);
    const sentBefore = requests();
    await sleep(1000);
    expect(landed).toBe(false);
    expect(requests() - sentBefore).toBe(0); // waiting on the watch, not polling

    const worker = other.queue<string>('wait');
    const job = await worker.pop({ timeoutMs: 10_000 });
    expect(job.payload).toBe('a');
    await job.ack();
    const id = await pushing;
    expect(landed).toBe(true);
    expect(await q.size()).toBe(2);
    const next = await worker.pop({ timeoutMs: 10_000 });
    await next.ack();
    const last = await worker.pop({ timeoutMs: 10_000 });
    expect(last.id).toBe(id);
    await last.ack();
    await worker.close();
    await q.close();
  });

  it('a batch waits until the whole batch fits; one larger than maxSize fails at once', async () => {
    const q = coord.queue<string>('batch-wait', { maxSize: 3 });
    await q.pushMany(['a', 'b']);
    let landed = false;
    const pushing = q.pushMany(['c', 'd']).then((ids) => ((landed = true), ids));
    const worker = other.queue<string>('batch-wait');
    await sleep(300);
    expect(landed).toBe(false);
    const job = await worker.pop({ timeoutMs: 10_000 });
    await job.ack();
    const ids = await pushing;
    expect(ids).toHaveLength(2);
    expect(await q.size()).toBe(3);
    const t0 = performance.now();
    await expect(q.pushMany(['1', '2', '3', '4'])).rejects.toThrow(/can never hold them all/);
    expect(performance.now() - t0).toBeLessThan(1000);
    await worker.close();
    await q.close();
  });

  it('the wait honours timeoutMs (QUEUE_FULL) and signal (ABORTED)', async () => {
    const q = coord.queue<number>('deadline', { maxSize: 1 });
    await q.push(1);
    const t0 = performance.now();
    const err = await q.push(2, { timeoutMs: 600 }).catch((e: unknown) => e);
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(QueueFullError);
    expect((err as Error).message).toMatch(/stayed full until the deadline/);
    expect(took).toBeGreaterThanOrEqual(550);
    expect(took).toBeLessThan(1600);
    const signal = AbortSignal.timeout(400);
    await expect(q.push(2, { signal })).rejects.toBeInstanceOf(AbortedError);
    expect(await q.size()).toBe(1);
    // Closing the handle stops a push waiting for room, as it stops a waiting pop.
    const waiting = q.push(3);
    await sleep(200);
    await q.close();
    await expect(waiting).rejects.toBeInstanceOf(AbortedError);
    expect(await coord.queue('deadline').size()).toBe(1);
  });

  it('maxSize 5, 3 clients × 8 concurrent pushes with wait: false: exactly 5 land, the rest are QUEUE_FULL', async () => {
    const third = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    try {
      const handles = [coord, other, third].map((c) => c.queue<number>('race', { maxSize: 5 }));
      const results = await Promise.allSettled(
        handles.flatMap((q, c) => Array.from({ length: 8 }, (_, i) => q.push(c * 10 + i, { wait: false }))),
      );
      const landed = results.filter((r) => r.status === 'fulfilled').length;
      const full = results.filter(
        (r) => r.status === 'rejected' && r.reason instanceof QueueFullError,
      ).length;
      console.log(`landed ${landed}, full ${full}`);
      expect({ landed, full }).toEqual({ landed: 5, full: 19 });
      expect(await handles[0]!.size()).toBe(5);
      for (const q of handles) await q.close();
    } finally {
      await third.close();
    }
  });

  it('12 waiting pushes from 2 clients into maxSize 3, drained by a consumer: all land, the size never passes 3', async () => {
    const handles = [coord, other].map((c) => c.queue<number>('drain', { maxSize: 3 }));
    const pushes = handles.flatMap((q, c) => Array.from({ length: 6 }, (_, i) => q.push(c * 10 + i)));
    const worker = coord.queue<number>('drain');
    const sizes: number[] = [];
    const got: number[] = [];
    for (let i = 0; i < 12; i++) {
      const job = await worker.pop({ timeoutMs: 10_000 });
      sizes.push(await worker.size());
      got.push(job.payload);
      await job.ack();
    }
    await Promise.all(pushes);
    console.log('sizes seen', sizes.join(','));
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
    expect(got.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]);
    for (const q of [...handles, worker]) await q.close();
  });

  it('rejects a bad maxSize naming it', () => {
    for (const bad of [0, -1, 1.5, '3']) {
      expect(() => coord.queue('x', { maxSize: bad as number })).toThrow(/`maxSize`/);
    }
  });
});
