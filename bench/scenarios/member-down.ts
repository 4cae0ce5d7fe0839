/**
 * Issue 22: with one of three members down (its endpoint listed first), `Counter.increment` and an
 * uncontended lock+unlock against the same figures with every member up. Target: ≥ 0.9× of the healthy
 * figure. Runs on its own 3-member cluster (the bench's shared etcd has one member).
 */
import { connect } from '../../src/index.js';
import { startEtcd } from '../../test/support/etcd.js';
import { measure, percentile, type BenchContext, type Scenario } from '../lib.js';

interface Figures {
  increment: { opsPerSec: number; p50: number; p99: number };
  lock: { opsPerSec: number; p50: number; p99: number };
}

async function figures(endpoints: string[], namespace: string): Promise<Figures> {
  const coord = await connect({ endpoints, namespace });
  try {
    const counter = coord.counter('ids');
    const mutex = coord.mutex('m');
    await counter.increment(); // warm the connections
    const incr = await measure(1000, 1, async () => {
      await counter.increment();
    });
    const lock = await measure(300, 1, async () => {
      const held = await mutex.lock();
      await held.unlock();
    });
    return {
      increment: {
        opsPerSec: incr.opsPerSec,
        p50: percentile(incr.latencies, 50),
        p99: percentile(incr.latencies, 99),
      },
      lock: {
        opsPerSec: lock.opsPerSec,
        p50: percentile(lock.latencies, 50),
        p99: percentile(lock.latencies, 99),
      },
    };
  } finally {
    await coord.close();
  }
}

async function memberDown(ctx: BenchContext): Promise<void> {
  const cluster = await startEtcd({ members: 3 });
  try {
    const healthy = await figures(cluster.endpoints, ctx.prefix('up'));
    const leader = await cluster.leader();
    const dead = cluster.members.find((m) => m !== leader)!;
    await dead.kill();
    const endpoints = [dead.endpoint, ...cluster.endpoints.filter((e) => e !== dead.endpoint)];
    const degraded = await figures(endpoints, ctx.prefix('down'));
    for (const [op, label] of [
      ['increment', 'Counter.increment, 1 client'],
      ['lock', 'Mutex lock+unlock, uncontended'],
    ] as const) {
      const up = healthy[op];
      const down = degraded[op];
      ctx.record({
        scenario: 'member-down',
        variant: `${label}, all 3 members up`,
        opsPerSec: up.opsPerSec,
        p50Ms: up.p50,
        p99Ms: up.p99,
      });
      ctx.record({
        scenario: 'member-down',
        variant: `${label}, 1 of 3 down (listed first)`,
        opsPerSec: down.opsPerSec,
        p50Ms: down.p50,
        p99Ms: down.p99,
        extra: { ratioToHealthy: down.opsPerSec / up.opsPerSec, target: '≥0.9× healthy' },
      });
    }
  } finally {
    await cluster.stop();
  }
}

export const scenarios: Scenario[] = [{ name: 'member-down: 1 of 3 members down', run: memberDown }];
