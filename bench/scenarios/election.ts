/**
 * Election failover: how long after the leader resigns (or dies) the next candidate learns it is elected,
 * etcd-coord next to etcd3's own `client.election(name).campaign()`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import type { Coordinator } from '../../src/index.js';
import { spawnNode } from '../../test/support/node-child.js';
import { percentile, type BenchContext, type Scenario } from '../lib.js';

async function queued(client: Etcd3, prefix: string, count: number): Promise<void> {
  for (;;) {
    if ((await client.getAll().prefix(prefix).count()) >= count) return;
    await sleep(1);
  }
}

/** Resign-to-elected latency with etcd-coord; `queuedForMs` is how long the waiter queued before the resign. */
async function ours(ctx: BenchContext, rounds: number, queuedForMs: number): Promise<number[]> {
  const prefix = ctx.prefix('election');
  const admin = ctx.client();
  const a: Coordinator = await ctx.connect({ namespace: prefix, ttlSeconds: 5 });
  const b: Coordinator = await ctx.connect({ namespace: prefix, ttlSeconds: 5 });
  const samples: number[] = [];
  try {
    let leader = await a.election('svc').campaign('a');
    let waiter = b;
    let other = a;
    for (let i = 0; i < rounds; i++) {
      const next = waiter.election('svc').campaign(`r${i}`);
      await queued(admin, `${prefix}svc/`, 2);
      if (queuedForMs > 0) await sleep(queuedForMs);
      const t = performance.now();
      await leader.resign();
      leader = await next;
      samples.push(performance.now() - t);
      [waiter, other] = [other, waiter];
    }
    await leader.resign();
  } finally {
    await admin.delete().prefix(prefix);
  }
  return samples;
}

/** The same with etcd3's Election (one client per candidate). */
async function theirs(ctx: BenchContext, rounds: number, queuedForMs: number): Promise<number[]> {
  const prefix = ctx.prefix('etcd3-election');
  const admin = ctx.client();
  const clients = [ctx.client().namespace(prefix), ctx.client().namespace(prefix)];
  const samples: number[] = [];
  const elected = (c: ReturnType<Etcd3['namespace']>, value: string) => {
    const campaign = c.election('svc', 5).campaign(value);
    const done = new Promise<typeof campaign>((resolve, reject) => {
      campaign.once('elected', () => resolve(campaign));
      campaign.once('error', reject);
    });
    return done;
  };
  try {
    let leader = await elected(clients[0]!, 'a');
    for (let i = 0; i < rounds; i++) {
      const next = elected(clients[(i + 1) % 2]!, `r${i}`);
      await queued(admin, `${prefix}election/svc`, 2);
      if (queuedForMs > 0) await sleep(queuedForMs);
      const t = performance.now();
      await leader.resign();
      leader = await next;
      samples.push(performance.now() - t);
    }
    await leader.resign();
  } finally {
    await admin.delete().prefix(prefix);
  }
  return samples;
}

async function resignFailover(
  ctx: BenchContext,
  label: string,
  rounds: number,
  queuedForMs: number,
): Promise<void> {
  const mine = await ours(ctx, rounds, queuedForMs);
  const etcd3 = await theirs(ctx, rounds, queuedForMs);
  ctx.record({
    scenario: 'election',
    variant: `etcd-coord failover after resign(), waiter queued ${label}`,
    p50Ms: percentile(mine, 50),
    p99Ms: percentile(mine, 99),
    extra: { rounds, 'p50 vs etcd3': percentile(mine, 50) / percentile(etcd3, 50) },
  });
  ctx.record({
    scenario: 'election',
    variant: `etcd3 Election failover after resign(), waiter queued ${label}`,
    p50Ms: percentile(etcd3, 50),
    p99Ms: percentile(etcd3, 99),
    extra: { rounds },
  });
}

/** kill -9 of the leader process; time until the waiter is elected (bound: TTL + 0.5 s). */
async function crashFailover(ctx: BenchContext, rounds: number): Promise<void> {
  const ttl = 2;
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const prefix = ctx.prefix('election-crash');
    const admin = ctx.client();
    const worker = spawnNode('test/workers/election-candidate.ts', ['svc', `w${i}`], {
      env: { ETCD_ENDPOINTS: ctx.endpoints.join(','), COORD_NAMESPACE: prefix, COORD_TTL: String(ttl) },
    });
    try {
      await worker.waitForLine(/^elected /, 15_000);
      const b = await ctx.connect({ namespace: prefix, ttlSeconds: ttl });
      const next = b.election('svc').campaign('b');
      await queued(admin, `${prefix}svc/`, 2);
      await sleep(300 + Math.random() * 700); // kill at a random point between keepalives
      const t = performance.now();
      worker.kill('SIGKILL');
      const term = await next;
      samples.push(performance.now() - t);
      await term.resign();
    } finally {
      await worker.stop();
      await admin.delete().prefix(prefix);
    }
  }
  ctx.record({
    scenario: 'election',
    variant: `etcd-coord failover after kill -9 of the leader process (TTL ${ttl} s)`,
    p50Ms: percentile(samples, 50),
    p99Ms: percentile(samples, 99),
    extra: { rounds, 'max ms': Math.max(...samples), 'bound ms': ttl * 1000 + 500 },
  });
}

export const scenarios: Scenario[] = [
  { name: 'election-failover-resign-just-queued', run: (ctx) => resignFailover(ctx, 'just before', 100, 0) },
  {
    name: 'election-failover-resign-long-queued',
    run: (ctx) => resignFailover(ctx, '200 ms before', 20, 200),
  },
  { name: 'election-failover-crash', run: (ctx) => crashFailover(ctx, 4) },
];
