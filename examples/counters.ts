/**
 * Counters and a double barrier, as a small order pipeline: N workers start together (DoubleBarrier.enter),
 * each takes order ids from a version-based Counter (unique, gap-free, one put each) and reserves stock
 * from an AtomicCounter without ever letting it go below zero (compareAndSet), then they finish together
 * (DoubleBarrier.leave) and one of them prints the totals.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/counters.ts [workers=4] [stock=200]
 *
 * With EXAMPLE_SMOKE=1 it runs the same thing on a fresh namespace, checks the totals, and removes its keys.
 */
import { connect, UnavailableError, type Coordinator } from '../src/index.js';

const smoke = process.env.EXAMPLE_SMOKE === '1';
const workers = Number(process.argv[2] ?? 4);
const initialStock = BigInt(process.argv[3] ?? 200);
const endpoints = (process.env.ETCD_ENDPOINTS ?? '127.0.0.1:2379').split(',');
const namespace = smoke ? `examples/counters-${process.pid}/` : 'examples/counters/';

/** Takes `n` items if there are that many: a CAS loop, so stock never goes below zero. */
async function reserve(coord: Coordinator, n: bigint): Promise<boolean> {
  const stock = coord.atomicCounter('stock');
  for (;;) {
    const current = await stock.get();
    if (current < n) return false;
    if (await stock.compareAndSet(current, current - n)) return true;
  }
}

async function worker(i: number): Promise<{ orders: bigint[]; items: bigint }> {
  const coord = await connect({ endpoints, namespace, ttlSeconds: 5 });
  try {
    const phase = coord.doubleBarrier('phase', workers);
    await phase.enter({ timeoutMs: 30_000 });
    const orders: bigint[] = [];
    let items = 0n;
    for (;;) {
      const want = BigInt(1 + ((i + orders.length) % 3));
      if (!(await reserve(coord, want))) break; // sold out
      try {
        orders.push(await coord.counter('order-id').increment());
        items += want;
      } catch (err) {
        // Never retried: the id may have been taken. Give the stock back; the id (if taken) is just skipped.
        if (err instanceof UnavailableError && err.mayHaveApplied)
          await coord.atomicCounter('stock').add(want);
        else throw err;
      }
    }
    await phase.leave({ timeoutMs: 30_000 });
    return { orders, items };
  } finally {
    await coord.close();
  }
}

const setup = await connect({ endpoints, namespace, ttlSeconds: 5 });
try {
  await setup.counter('order-id').reset();
  const stock = setup.atomicCounter('stock');
  const before = await stock.get();
  await stock.add(initialStock - before);
  console.log(`${workers} workers, ${initialStock} items in stock`);

  const results = await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)));
  const ids = results.flatMap((r) => r.orders).sort((a, b) => (a < b ? -1 : 1));
  const items = results.reduce((sum, r) => sum + r.items, 0n);
  results.forEach((r, i) => console.log(`worker ${i}: ${r.orders.length} orders, ${r.items} items`));
  const left = await stock.get();
  console.log(
    `orders ${ids[0]}..${ids.at(-1)} (${ids.length} ids, unique: ${new Set(ids).size === ids.length})`,
  );
  console.log(`items sold ${items} + left ${left} = ${items + left}`);
  if (items + left !== initialStock || left < 0n) throw new Error('stock does not add up');
} finally {
  if (smoke) {
    const { key, end } = setup.keyspace.prefixRange('');
    await setup.client.kv.deleteRange({ key, range_end: end });
  }
  await setup.close();
}
