/**
 * Counters: the version-based increment (one put) against the raw-put bound, and the CAS AtomicCounter
 * against the read-modify-write counter people write with etcd3's STM, both with 8 separate clients on
 * one key (full contention).
 */
import type { Etcd3 } from 'etcd3';
import { measure, percentile, type BenchContext, type Scenario } from '../lib.js';
import type { Coordinator } from '../../src/index.js';

async function coordinators(ctx: BenchContext, n: number, namespace: string): Promise<Coordinator[]> {
  return Promise.all(Array.from({ length: n }, () => ctx.connect({ namespace })));
}

async function incrementScenario(ctx: BenchContext, clients: 1 | 8): Promise<void> {
  const namespace = ctx.prefix(`incr${clients}`);
  const coords = await coordinators(ctx, clients, namespace);
  const counters = coords.map((c) => c.counter('ids'));
  await Promise.all(counters.map((c) => c.increment())); // warm the connections
  const total = clients === 1 ? 2000 : 6000;
  const got: bigint[] = [];
  const { opsPerSec, latencies } = await measure(total, clients, async (w) => {
    got.push(await counters[w]!.increment());
  });
  // The point of the recipe, checked on the benchmark's own output: unique values, none skipped.
  const max = got.reduce((a, b) => (b > a ? b : a), 0n);
  if (new Set(got).size !== total || max !== BigInt(total + clients))
    throw new Error('increment values not unique/gap-free');
  ctx.record({
    scenario: 'counter',
    variant: `Counter.increment, ${clients} client${clients === 1 ? '' : 's'} (1 put each)`,
    opsPerSec,
    ratioTo: clients === 1 ? 'rawPut1' : 'rawPut8',
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    extra: { requestsPerOp: 1, target: clients === 8 ? '≥0.5× rawPut8' : '' },
  });
  await coords[0]!.counter('ids').reset();
}

async function atomicScenario(ctx: BenchContext): Promise<void> {
  const namespace = ctx.prefix('atomic');
  const coords = await coordinators(ctx, 8, namespace);
  // A generous retry budget: this scenario is the worst case (8 writers, no pause, one key) and measures
  // how many races are lost; it must not stop at the default bound.
  const counters = coords.map((c) => c.atomicCounter('total', { maxRetries: 10_000 }));
  await Promise.all(counters.map((c) => c.get()));
  const before = counters.reduce((n, c) => n + c.conflicts, 0);
  const total = 3000;
  let worst = 0;
  const { opsPerSec, latencies } = await measure(total, 8, async (w) => {
    const c = counters[w]!;
    const lostBefore = c.conflicts;
    await c.add(1);
    worst = Math.max(worst, c.conflicts - lostBefore);
  });
  const retries = counters.reduce((n, c) => n + c.conflicts, 0) - before;
  const final = await counters[0]!.get();
  if (final !== BigInt(total)) throw new Error(`AtomicCounter ended at ${final}, expected ${total}`);
  ctx.record({
    scenario: 'counter',
    variant: 'AtomicCounter.add, 8 clients, one key (mod-revision CAS)',
    opsPerSec,
    ratioTo: 'rawPut8',
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    extra: { retriesPerOp: retries / total, maxRetriesInOneOp: worst },
  });
  const { key, end } = coords[0]!.keyspace.prefixRange('');
  await coords[0]!.client.kv.deleteRange({ key, range_end: end });
}

async function stmScenario(ctx: BenchContext): Promise<void> {
  const key = `${ctx.prefix('stm')}total`;
  const clients: Etcd3[] = Array.from({ length: 8 }, () => ctx.client());
  await Promise.all(clients.map((c) => c.get(key).string()));
  let attempts = 0;
  const total = 1500;
  const { opsPerSec, latencies } = await measure(total, 8, async (w) => {
    await clients[w]!.stm({ retries: 10_000 }).transact(async (tx) => {
      attempts++;
      const current = Number((await tx.get(key).string()) ?? '0');
      await tx.put(key).value(String(current + 1));
    });
  });
  const final = Number(await clients[0]!.get(key).string());
  if (final !== total) throw new Error(`STM counter ended at ${final}, expected ${total}`);
  ctx.record({
    scenario: 'counter',
    variant: 'etcd3 STM read-modify-write counter, 8 clients (baseline)',
    opsPerSec,
    ratioTo: 'rawPut8',
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    extra: { retriesPerOp: (attempts - total) / total },
  });
  await clients[0]!.delete().key(key);
}

/**
 * Ids at high rates: IdGenerator (a block of 1000 reserved in one AtomicCounter add) against one
 * `Counter.increment()` per id, both with 8 clients on one name, in the same run. The ratio is the point:
 * the generator's cost is local once a block is reserved.
 */
async function idGeneratorScenario(ctx: BenchContext): Promise<void> {
  const namespace = ctx.prefix('idgen');
  const coords = await coordinators(ctx, 8, namespace);
  const gens = coords.map((c) => c.idGenerator('ids', { blockSize: 1000 }));
  await Promise.all(gens.map((g) => g.next())); // warm: one block each
  const total = 80_000;
  const got = new Set<bigint>();
  const { opsPerSec, latencies } = await measure(total, 8, async (w) => {
    got.add(await gens[w]!.next());
  });
  if (got.size !== total) throw new Error('IdGenerator handed out a duplicate id');
  const reserved = await coords[0]!.atomicCounter('ids').get();
  ctx.record({
    scenario: 'counter',
    variant: 'IdGenerator.next, 8 clients, blocks of 1000 (vs Counter.increment, 8 clients: one put per id)',
    opsPerSec,
    ratioTo: 'rawPut8',
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    extra: { requestsPerOp: Number(reserved / 1000n) / (total + 8) },
  });
  const { key, end } = coords[0]!.keyspace.prefixRange('');
  await coords[0]!.client.kv.deleteRange({ key, range_end: end });
}

export const scenarios: Scenario[] = [
  { name: 'counter: increment, 1 client', run: (ctx) => incrementScenario(ctx, 1) },
  { name: 'counter: increment, 8 clients', run: (ctx) => incrementScenario(ctx, 8) },
  { name: 'counter: IdGenerator.next, 8 clients', run: idGeneratorScenario },
  { name: 'counter: AtomicCounter.add, 8 clients', run: atomicScenario },
  { name: 'counter: etcd3 STM counter, 8 clients', run: stmScenario },
];
