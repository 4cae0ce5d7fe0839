/**
 * Multi-lock: `coord.multiLock([a, b, c])` (one enqueue txn for all three names) against taking the same
 * three mutexes one after another, uncontended, with the etcd requests each cycle costs. Both release the
 * three keys in parallel, so the difference is the acquisition.
 */
import type { Coordinator } from '../../src/index.js';
import { measure, percentile, type BenchContext, type Scenario } from '../lib.js';

const CYCLES = 600;

/** Counts the KV requests a coordinator's client sends (bench only: wraps instance methods). */
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

export const scenarios: Scenario[] = [
  {
    name: 'lock: multiLock of 3 names vs 3 sequential mutexes, uncontended',
    async run(ctx: BenchContext) {
      const coord = await ctx.connect({ namespace: ctx.prefix('multilock') });
      const requests = countRequests(coord);
      const names = ['m/a', 'm/b', 'm/c'];
      const multi = coord.multiLock(names);
      const mutexes = names.map((n) => coord.mutex(n));
      const sequential = async () => {
        const held = [];
        for (const m of mutexes) held.push(await m.lock());
        await Promise.all(held.map((l) => l.unlock()));
      };
      // Warm up: session, shared watches.
      await (await multi.lock()).unlock();
      await sequential();

      let before = requests.count;
      const ours = await measure(CYCLES, 1, async () => (await multi.lock()).unlock());
      const multiRequests = (requests.count - before) / CYCLES;
      before = requests.count;
      const seq = await measure(CYCLES, 1, sequential);
      const seqRequests = (requests.count - before) / CYCLES;
      const ratio = ours.opsPerSec / seq.opsPerSec;
      ctx.record({
        scenario: 'lock',
        variant: 'etcd-coord multiLock of 3 names, uncontended lock+unlock',
        opsPerSec: ours.opsPerSec,
        ratioTo: 'rawPut1',
        p50Ms: percentile(ours.latencies, 50),
        p99Ms: percentile(ours.latencies, 99),
        extra: { requestsPerCycle: multiRequests, multiOverSequential: ratio },
      });
      ctx.record({
        scenario: 'lock',
        variant: '3 etcd-coord Mutex locks one after another (+ parallel unlock), uncontended',
        opsPerSec: seq.opsPerSec,
        ratioTo: 'rawPut1',
        p50Ms: percentile(seq.latencies, 50),
        p99Ms: percentile(seq.latencies, 99),
        extra: { requestsPerCycle: seqRequests },
      });
      ctx.log(
        `multiLock ${ours.opsPerSec.toFixed(0)}/s (${multiRequests.toFixed(2)} req/cycle), ` +
          `3 sequential mutexes ${seq.opsPerSec.toFixed(0)}/s (${seqRequests.toFixed(2)} req/cycle): ` +
          `ratio ${ratio.toFixed(2)}×`,
      );
    },
  },
];
