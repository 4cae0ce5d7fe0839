/**
 * Queue throughput with separate clients: producers push, consumers pop and ack, all at once. Reported
 * as items/s against raw puts with 8 clients, with the claim attempts lost to another consumer per item
 * and the push→pop latency. Each item costs three writes (push, claim, ack), so 0.33× is the ceiling.
 * A third scenario measures how late delayed jobs are handed out after their due time.
 */
import type { Coordinator, Queue } from '../../src/index.js';
import { percentile, type BenchContext, type Scenario } from '../lib.js';

const JOBS = 2000;

async function throughput(ctx: BenchContext, producers: number, consumers: number): Promise<void> {
  const namespace = ctx.prefix(`queue-${producers}p${consumers}c`);
  const open = async (n: number): Promise<Coordinator[]> =>
    Promise.all(Array.from({ length: n }, () => ctx.connect({ namespace, ttlSeconds: 5 })));
  const pcs = await open(producers);
  const ccs = await open(consumers);
  const pqs = pcs.map((c) => c.queue<number>('bench'));
  const cqs = ccs.map((c) => c.queue<number>('bench'));
  // Warm up: each consumer reads its snapshot and opens its watch before the clock starts.
  await Promise.all(cqs.map((q) => q.pop({ timeoutMs: 1 }).catch(() => undefined)));
  const pushedAt = new Map<number, number>();
  const latencies: number[] = [];
  let popped = 0;
  const stop = new AbortController();
  const start = performance.now();
  let next = 0;
  const pushing = Promise.all(
    pqs.map(async (q) => {
      for (let i = next++; i < JOBS; i = next++) {
        pushedAt.set(i, performance.now());
        await q.push(i);
      }
    }),
  );
  const popping = Promise.all(
    cqs.map(async (q: Queue<number>) => {
      while (popped < JOBS) {
        const job = await q.pop({ signal: stop.signal }).catch(() => undefined);
        if (!job) return;
        latencies.push(performance.now() - pushedAt.get(job.payload)!);
        await job.ack();
        if (++popped >= JOBS) stop.abort();
      }
    }),
  );
  await Promise.all([pushing, popping]);
  const elapsed = performance.now() - start;
  const wasted = cqs.reduce((s, q) => s + q.stats.wasted, 0);
  ctx.record({
    scenario: 'queue',
    variant: `etcd-coord Queue, ${producers} producer${producers > 1 ? 's' : ''} / ${consumers} consumer${consumers > 1 ? 's' : ''} (separate clients), ${JOBS} jobs`,
    opsPerSec: (JOBS / elapsed) * 1000,
    ratioTo: 'rawPut8',
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    extra: { 'wasted claims/item': wasted / JOBS, latency: 'push→pop' },
  });
  await Promise.all([...pqs, ...cqs].map((q) => q.close()));
  await pcs[0]!.client.delete().prefix(pcs[0]!.keyspace.key(''));
}

/** Wake-up latency: jobs pushed at a steady pace to consumers that are waiting (no backlog). */
async function paced(ctx: BenchContext): Promise<void> {
  const namespace = ctx.prefix('queue-paced');
  const producer = await ctx.connect({ namespace });
  const cs = await Promise.all([0, 1, 2, 3].map(() => ctx.connect({ namespace })));
  const pq = producer.queue<number>('paced');
  const cqs = cs.map((c) => c.queue<number>('paced'));
  await Promise.all(cqs.map((q) => q.pop({ timeoutMs: 1 }).catch(() => undefined)));
  const n = 300;
  const pushedAt: number[] = [];
  const latencies: number[] = [];
  const stop = new AbortController();
  const popping = Promise.all(
    cqs.map(async (q) => {
      while (latencies.length < n) {
        const job = await q.pop({ signal: stop.signal }).catch(() => undefined);
        if (!job) return;
        latencies.push(performance.now() - pushedAt[job.payload]!);
        await job.ack();
        if (latencies.length >= n) stop.abort();
      }
    }),
  );
  for (let i = 0; i < n; i++) {
    pushedAt[i] = performance.now();
    await pq.push(i);
    await new Promise((r) => setTimeout(r, 20));
  }
  await popping;
  const wasted = cqs.reduce((sum, q) => sum + q.stats.wasted, 0);
  ctx.record({
    scenario: 'queue',
    variant: `push→pop latency at a steady 1 job / 20 ms, 4 waiting consumers (separate clients)`,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    extra: { 'wasted claims/item': wasted / n },
  });
  await Promise.all([pq, ...cqs].map((q) => q.close()));
  await producer.client.delete().prefix(producer.keyspace.key(''));
}

/** Lateness of delayed jobs: pop time minus due time, with 4 consumers waiting. */
async function delays(ctx: BenchContext): Promise<void> {
  const namespace = ctx.prefix('queue-delay');
  const producer = await ctx.connect({ namespace });
  const consumer = await ctx.connect({ namespace });
  const pq = producer.queue<number>('delay');
  const cq = consumer.queue<number>('delay');
  const n = 100;
  const due: number[] = [];
  const late: number[] = [];
  const base = Date.now() + 300;
  await Promise.all(
    Array.from({ length: n }, (_, i) => {
      due[i] = base + i * 30;
      return pq.push(i, { delayMs: due[i]! - Date.now() });
    }),
  );
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (late.length < n) {
        const job = await cq.pop({ timeoutMs: 10_000 }).catch(() => undefined);
        if (!job) return;
        late.push(Date.now() - due[job.payload]!);
        await job.ack();
      }
    }),
  );
  ctx.record({
    scenario: 'queue',
    variant: `delayed jobs: handed out after their due time (${n} jobs, 30 ms apart)`,
    p50Ms: percentile(late, 50),
    p99Ms: percentile(late, 99),
    extra: { 'min ms': Math.min(...late), 'max ms': Math.max(...late) },
  });
  await pq.close();
  await cq.close();
  await producer.client.delete().prefix(producer.keyspace.key(''));
}

export const scenarios: Scenario[] = [
  { name: 'queue-1p1c', run: (ctx) => throughput(ctx, 1, 1) },
  { name: 'queue-8p8c', run: (ctx) => throughput(ctx, 8, 8) },
  { name: 'queue-paced', run: (ctx) => paced(ctx) },
  { name: 'queue-delay', run: (ctx) => delays(ctx) },
];
