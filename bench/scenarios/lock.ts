/**
 * Locks: etcd-coord's Mutex against etcd3's own `client.lock()`, uncontended and with 8 contending
 * clients, with the etcd requests each acquisition costs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdLockFailedError, type Etcd3 } from 'etcd3';
import type { Coordinator } from '../../src/index.js';
import { measure, percentile, type BenchContext, type Scenario } from '../lib.js';

const WINDOW_MS = 4000;

/** Counts the KV and lease-TTL requests a coordinator's client sends (bench only: wraps instance methods). */
function countRequests(coord: Coordinator): { readonly count: number } {
  const counter = { count: 0 };
  const kv = coord.client.kv as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of ['txn', 'range', 'put', 'deleteRange']) {
    const orig = kv[name]!.bind(kv);
    kv[name] = (...args: unknown[]) => {
      counter.count++;
      return orig(...args);
    };
  }
  return counter;
}

/** Runs `op` with `workers` loops for about `ms`; returns cycles/s and per-cycle latencies. */
async function forWindow(workers: number, ms: number, op: (worker: number) => Promise<void>) {
  const deadline = performance.now() + ms;
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      while (performance.now() < deadline) {
        const t = performance.now();
        await op(w);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = performance.now() - start;
  return { opsPerSec: (latencies.length / elapsed) * 1000, latencies, cycles: latencies.length };
}

async function etcd3Cycle(client: Etcd3, name: string, wasted: { n: number }): Promise<number> {
  const t = performance.now();
  for (;;) {
    const lock = client.lock(name).ttl(10);
    try {
      await lock.acquire();
    } catch (err) {
      if (!(err instanceof EtcdLockFailedError)) throw err;
      wasted.n++;
      await sleep(Math.random() * 2); // etcd3's Lock fails fast: back off a hair and retry
      continue;
    }
    const waited = performance.now() - t;
    await lock.release();
    return waited;
  }
}

export const scenarios: Scenario[] = [
  {
    name: 'lock: uncontended lock+unlock',
    async run(ctx: BenchContext) {
      const coord = await ctx.connect({ namespace: ctx.prefix('lock-u') });
      const requests = countRequests(coord);
      const m = coord.mutex('uncontended');
      await (await m.lock()).unlock(); // warm up: session, watch
      const before = requests.count;
      const ours = await measure(1500, 1, async () => {
        const lock = await m.lock();
        await lock.unlock();
      });
      const perCycle = (requests.count - before) / 1500;
      ctx.record({
        scenario: 'lock',
        variant: 'etcd-coord Mutex, uncontended lock+unlock',
        opsPerSec: ours.opsPerSec,
        ratioTo: 'rawPut1',
        p50Ms: percentile(ours.latencies, 50),
        p99Ms: percentile(ours.latencies, 99),
        extra: { requestsPerAcquisition: perCycle },
      });
      const client = ctx.client();
      const name = `${ctx.prefix('lock-u-etcd3')}x`;
      const theirs = await measure(500, 1, async () => {
        await client
          .lock(name)
          .ttl(10)
          .acquire()
          .then((l) => l.release());
      });
      ctx.record({
        scenario: 'lock',
        variant: 'etcd3 client.lock() acquire+release, uncontended',
        opsPerSec: theirs.opsPerSec,
        ratioTo: 'rawPut1',
        p50Ms: percentile(theirs.latencies, 50),
        p99Ms: percentile(theirs.latencies, 99),
        extra: { oursOverEtcd3: ours.opsPerSec / theirs.opsPerSec },
      });
      ctx.log(
        `ours ${ours.opsPerSec.toFixed(0)}/s (${perCycle.toFixed(2)} req/cycle), etcd3 ${theirs.opsPerSec.toFixed(0)}/s`,
      );
    },
  },
  {
    name: 'lock: contended, 8 clients',
    async run(ctx: BenchContext) {
      const ns = ctx.prefix('lock-c');
      const coords = await Promise.all(Array.from({ length: 8 }, () => ctx.connect({ namespace: ns })));
      const counters = coords.map(countRequests);
      const mutexes = coords.map((c) => c.mutex('contended'));
      for (const m of mutexes) await (await m.lock()).unlock();
      const before = counters.reduce((s, c) => s + c.count, 0);
      let failed = 0;
      const waits: number[] = [];
      const ours = await forWindow(8, WINDOW_MS, async (w) => {
        const t = performance.now();
        try {
          const lock = await mutexes[w]!.lock();
          waits.push(performance.now() - t);
          await lock.unlock();
        } catch {
          failed++;
        }
      });
      const perAcq = (counters.reduce((s, c) => s + c.count, 0) - before) / ours.cycles;
      ctx.record({
        scenario: 'lock',
        variant: 'etcd-coord Mutex, 8 clients contended, empty critical section',
        opsPerSec: ours.opsPerSec,
        ratioTo: 'rawPut8',
        p50Ms: percentile(waits, 50),
        p99Ms: percentile(waits, 99),
        extra: { failedAttempts: failed, requestsPerAcquisition: perAcq, note: 'p50/p99 = acquire wait' },
      });
      const clients = Array.from({ length: 8 }, () => ctx.client());
      const name = `${ctx.prefix('lock-c-etcd3')}x`;
      const wasted = { n: 0 };
      const theirWaits: number[] = [];
      const theirs = await forWindow(8, WINDOW_MS, async (w) => {
        theirWaits.push(await etcd3Cycle(clients[w]!, name, wasted));
      });
      ctx.record({
        scenario: 'lock',
        variant: 'etcd3 client.lock() in a retry loop, 8 clients contended',
        opsPerSec: theirs.opsPerSec,
        ratioTo: 'rawPut8',
        p50Ms: percentile(theirWaits, 50),
        p99Ms: percentile(theirWaits, 99),
        extra: { wastedAttempts: wasted.n, wastedPerAcquisition: wasted.n / Math.max(1, theirs.cycles) },
      });
      ctx.log(
        `ours ${ours.opsPerSec.toFixed(0)}/s (${perAcq.toFixed(2)} req/acq, ${failed} failed), etcd3 ${theirs.opsPerSec.toFixed(0)}/s (${wasted.n} wasted)`,
      );
    },
  },
];
