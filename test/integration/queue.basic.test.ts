/**
 * Queue on the shared etcd: ordering (priority, FIFO, delays), ack/nack, dead letters with the attempt
 * count, bad input rejected before any request, and an idle consumer that sends nothing but keepalives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, InvalidArgumentError, LockLostError, type Coordinator, type Job } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

/** Counts every KV and watch-stream request the coordinator's client sends. */
function countRequests(coord: Coordinator): { kv: () => number; watches: () => number } {
  let kv = 0;
  let watches = 0;
  const client = coord.client as unknown as Record<string, Record<string, (...a: unknown[]) => unknown>>;
  const kvClient = client['kv']!;
  for (const m of ['range', 'put', 'deleteRange', 'txn', 'compact']) {
    const orig = kvClient[m]!.bind(kvClient);
    kvClient[m] = (...a: unknown[]) => {
      kv++;
      return orig(...a);
    };
  }
  const watchClient = client['watchClient']!;
  const origWatch = watchClient['watch']!.bind(watchClient);
  watchClient['watch'] = (...a: unknown[]) => {
    watches++;
    return origWatch(...a);
  };
  return { kv: () => kv, watches: () => watches };
}

describe('queue basics', () => {
  const etcd = useSharedEtcd('queue');
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

  it('serves higher priority first and FIFO within a priority (single consumer)', async () => {
    const q = coord.queue<{ n: number; p: number }>('order');
    const pushed: { n: number; p: number }[] = [];
    for (let n = 0; n < 30; n++) {
      const p = [0, 5, 1][n % 3]!;
      pushed.push({ n, p });
      await q.push({ n, p }, { priority: p });
    }
    const popped: { n: number; p: number }[] = [];
    for (let i = 0; i < 30; i++) {
      const job = await q.pop({ timeoutMs: 10_000 });
      popped.push(job.payload);
      await job.ack();
    }
    const expected = [...pushed].sort((a, b) => b.p - a.p || a.n - b.n);
    expect(popped).toEqual(expected);
    expect(await q.size()).toBe(0);
    await q.close();
  });

  it('ids are the create revisions: unique and increasing', async () => {
    const q = coord.queue('ids');
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(BigInt(await q.push(i)));
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true);
    const job = await q.pop({ timeoutMs: 10_000 });
    expect(job.id).toBe(ids[0]!.toString());
    expect(job.attempt).toBe(1);
    await job.ack();
    await q.close();
  });

  it('a delayed job is not handed out before its time, then is (by the timer, not by polling)', async () => {
    const q = coord.queue<string>('delay');
    const t0 = Date.now();
    await q.push('late', { delayMs: 1500 });
    await q.push('now');
    const first = await q.pop({ timeoutMs: 10_000 });
    expect(first.payload).toBe('now');
    await first.ack();
    const second = await q.pop({ timeoutMs: 20_000 });
    const at = Date.now();
    expect(second.payload).toBe('late');
    expect(at - t0).toBeGreaterThanOrEqual(1500);
    console.log(`delayed job handed out ${at - t0 - 1500} ms after its due time`);
    await second.ack();
    await q.close();
  });

  it('a blocked pop is woken by a push from another client', async () => {
    const q = coord.queue<number>('wake');
    const p = q.pop({ timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 200));
    const producer = other.queue<number>('wake');
    await producer.push(42);
    const job = await p;
    expect(job.payload).toBe(42);
    await job.ack();
    await q.close();
    await producer.close();
  });

  it('nack with a delay hides the job, then redelivers it with attempt + 1', async () => {
    const q = coord.queue<string>('nack');
    await q.push('x');
    const a = await q.pop({ timeoutMs: 10_000 });
    expect(a.attempt).toBe(1);
    const t = Date.now();
    await a.nack({ delayMs: 800 });
    const b = await q.pop({ timeoutMs: 20_000 });
    expect(Date.now() - t).toBeGreaterThanOrEqual(800);
    expect(b.payload).toBe('x');
    expect(b.id).toBe(a.id);
    expect(b.attempt).toBe(2);
    await b.ack();
    expect(q.stats.nacked).toBe(1);
    expect(q.stats.acked).toBe(1);
    await q.close();
  });

  it('after maxAttempts nacks the job is in the dead-letter queue, with its attempt count', async () => {
    const q = coord.queue<string>('dl', { maxAttempts: 3 });
    const id = await q.push('poison', { priority: 7 });
    for (let i = 1; i <= 3; i++) {
      const job = await q.pop({ timeoutMs: 10_000 });
      expect(job.attempt).toBe(i);
      await job.nack();
    }
    expect(await q.size()).toBe(0);
    const dead = coord.queue<string>('dl.dead');
    expect(await dead.size()).toBe(1);
    const job = await dead.pop({ timeoutMs: 10_000 });
    expect(job.payload).toBe('poison');
    expect(job.priority).toBe(7);
    expect(job.deadLetter).toEqual({ queue: 'dl', id, attempts: 3 });
    await job.ack();
    await q.close();
    await dead.close();
  });

  it('a consumer that dies loses its claim: the job comes back with attempt + 1, and dies after maxAttempts', async () => {
    const q = coord.queue<string>('death', { maxAttempts: 2, deadLetter: 'death-dlq' });
    await q.push('fragile');
    for (let attempt = 1; attempt <= 2; attempt++) {
      const victim = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
      const vq = victim.queue<string>('death', { maxAttempts: 2, deadLetter: 'death-dlq' });
      const job = await vq.pop({ timeoutMs: 10_000 });
      expect(job.attempt).toBe(attempt);
      // The consumer "dies": its lease is revoked behind its back, taking the claim with it.
      await etcd.admin.leaseClient.leaseRevoke({ ID: victim.session.leaseId.toString() });
      await waitFor(() => job.signal.aborted, { message: 'victim notices its lost lease' });
      await expect(job.ack()).rejects.toBeInstanceOf(LockLostError);
      await victim.close();
    }
    // The next consumer to look at the job finds its deliveries used up and moves it, instead of claiming.
    const looking = q.pop({ timeoutMs: 60_000 });
    looking.catch(() => undefined);
    const dead = coord.queue<string>('death-dlq');
    const job = await dead.pop({ timeoutMs: 20_000 });
    await q.close();
    await expect(looking).rejects.toThrow(/closed/);
    expect(job.deadLetter?.attempts).toBe(2);
    await job.ack();
    expect(await q.size()).toBe(0);
    await dead.close();
  });

  it('process() acks what resolves, nacks what throws, and stops on its signal', async () => {
    const q = coord.queue<number>('proc', { maxAttempts: 2 });
    for (let i = 0; i < 20; i++) await q.push(i);
    const seen = new Map<number, number>();
    const ac = new AbortController();
    const run = q.process(
      async (job: Job<number>) => {
        seen.set(job.payload, (seen.get(job.payload) ?? 0) + 1);
        if (job.payload === 13 && job.attempt === 1) throw new Error('flaky');
      },
      { concurrency: 4, signal: ac.signal },
    );
    await waitFor(async () => (await q.size()) === 0, { message: 'queue drained' });
    ac.abort();
    await run;
    expect(seen.size).toBe(20);
    expect(seen.get(13)).toBe(2);
    await q.close();
  });

  it('rejects bad input before any request', async () => {
    const q = coord.queue('bad');
    const count = countRequests(other);
    const oq = other.queue('bad');
    await expect(oq.push('x'.repeat(1_600_000))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(oq.push(1, { priority: -1 })).rejects.toThrow(/`priority`/);
    await expect(oq.push(1, { priority: 1.5 })).rejects.toThrow(/`priority`/);
    await expect(oq.push(1, { delayMs: -5 })).rejects.toThrow(/`delayMs`/);
    await expect(oq.push(undefined)).rejects.toThrow(/`payload`/);
    await expect(oq.push({ when: new Date() })).rejects.toThrow(/payload\.when/);
    await expect(oq.push({ n: 10n })).rejects.toThrow(/bigint/);
    await expect(oq.push([Number.NaN])).rejects.toThrow(/NaN/);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    await expect(oq.push(cyclic)).rejects.toThrow(/cycle/);
    await expect(oq.pop({ timeoutMs: -1 })).rejects.toThrow(/`timeoutMs`/);
    await expect(oq.process(async () => undefined, { concurrency: 0 })).rejects.toThrow(/`concurrency`/);
    expect(() => other.queue('a/b')).toThrow(InvalidArgumentError);
    expect(() => other.queue('')).toThrow(InvalidArgumentError);
    expect(() => other.queue('x', { maxAttempts: 0 })).toThrow(/`maxAttempts`/);
    expect(() => other.queue('x', { deadLetter: 'x' })).toThrow(/`deadLetter`/);
    expect(count.kv()).toBe(0);
    // With a codec, any payload its encoder accepts goes through.
    const bin = other.queue<Date>('bin', {
      codec: { encode: (d) => Buffer.from(d.toISOString()), decode: (b) => new Date(b.toString()) },
    });
    await bin.push(new Date(0));
    const job = await bin.pop({ timeoutMs: 10_000 });
    expect(job.payload.getTime()).toBe(0);
    await job.ack();
    await bin.close();
    await oq.close();
    await q.close();
  });

  it('an idle consumer sends no request besides keepalives', async () => {
    const idle = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    try {
      const q = idle.queue('idle');
      const ac = new AbortController();
      const pops = [q.pop({ signal: ac.signal }), q.pop({ signal: ac.signal }), q.pop({ signal: ac.signal })];
      for (const p of pops) p.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500)); // snapshot read and watch created
      const count = countRequests(idle);
      let keepalives = 0;
      idle.session.on('keepalive', () => keepalives++);
      await new Promise((r) => setTimeout(r, 3000));
      expect({ kv: count.kv(), watches: count.watches() }).toEqual({ kv: 0, watches: 0 });
      expect(keepalives).toBeGreaterThan(0);
      ac.abort();
      await Promise.allSettled(pops);
      await q.close();
    } finally {
      await idle.close();
    }
  });
});
