import type { BenchContext, Scenario } from '../lib.js';
import { percentile } from '../lib.js';
import type { Coordinator, Registration } from '../../src/index.js';

/** Registers `n` instances of `service` on one coordinator, 100 at a time. */
async function registerMany(
  ctx: BenchContext,
  ns: string,
  service: string,
  n: number,
  ttlSeconds = 10,
): Promise<{ coord: Coordinator; regs: Registration[] }> {
  const coord = await ctx.connect({ namespace: ns, ttlSeconds });
  const registry = coord.registry(service);
  const regs: Registration[] = [];
  for (let i = 0; i < n; i += 100) {
    regs.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(100, n - i) }, (_, j) =>
          registry.register({
            id: `i${String(i + j).padStart(5, '0')}`,
            address: `10.0.${(i + j) >> 8}.${(i + j) & 255}:80`,
          }),
        ),
      )),
    );
  }
  return { coord, regs };
}

/** update() on one instance → the `change` event in another coordinator's discovery cache. */
async function putToCache(ctx: BenchContext, instances: number): Promise<void> {
  const ns = ctx.prefix(`registry-p2c-${instances}`);
  const { regs } = await registerMany(ctx, ns, 'api', instances);
  const watcher = await ctx.connect({ namespace: ns });
  const svc = await watcher.discovery('api');
  while (svc.size < instances) await new Promise((r) => setTimeout(r, 20));
  const waiting = new Map<string, () => void>();
  svc.on('change', (inst) => {
    const key = `${inst.id}#${String(inst.metadata.seq)}`;
    waiting.get(key)?.();
  });
  const latencies: number[] = [];
  const warmup = 30;
  const rounds = 300;
  let start = performance.now();
  for (let seq = -warmup; seq < rounds; seq++) {
    if (seq === 0) {
      latencies.length = 0;
      start = performance.now();
    }
    const reg = regs[((seq + warmup) * 7919) % regs.length]!;
    const seen = new Promise<void>((resolve) => waiting.set(`${reg.id}#${seq}`, resolve));
    const t = performance.now();
    await reg.update({ seq });
    await seen;
    latencies.push(performance.now() - t);
    waiting.delete(`${reg.id}#${seq}`);
  }
  const elapsed = performance.now() - start;
  ctx.record({
    scenario: 'registry',
    variant: `update() → discovery cache updated, ${instances} instances`,
    opsPerSec: (rounds / elapsed) * 1000,
    ratioTo: 'rawPut1',
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    extra: { instances },
  });
  await svc.close();
}

/** Keepalive requests/s and client CPU for `n` instances: one shared session vs one etcd3 Lease each. */
async function keepaliveCost(ctx: BenchContext, n: number, windowMs: number): Promise<void> {
  const ttl = 10;
  // etcd-coord: n registrations on the default session.
  const ns = ctx.prefix('registry-ka');
  const { coord, regs: mine } = await registerMany(ctx, ns, 'kept', n, ttl);
  let acks = 0;
  const onAck = () => acks++;
  coord.session.on('keepalive', onAck);
  let cpu = process.cpuUsage();
  let t = performance.now();
  await new Promise((r) => setTimeout(r, windowMs));
  let used = process.cpuUsage(cpu);
  let secs = (performance.now() - t) / 1000;
  coord.session.off('keepalive', onAck);
  ctx.record({
    scenario: 'registry',
    variant: `${n} registrations, etcd-coord (one shared lease), TTL ${ttl} s`,
    extra: {
      leases: new Set(mine.map((r) => r.leaseId)).size,
      'keepalive req/s': acks / secs,
      'client CPU %': ((used.user + used.system) / 1000 / (secs * 1000)) * 100,
    },
  });
  await coord.close();

  // etcd3: one Lease object (its own keepalive timer) per instance, each holding its key.
  const client = ctx.client();
  const leases = [];
  for (let i = 0; i < n; i += 100) {
    leases.push(
      ...(await Promise.all(
        Array.from({ length: Math.min(100, n - i) }, async (_, j) => {
          const lease = client.lease(ttl);
          await lease.put(`${ns}etcd3/${i + j}`).value(JSON.stringify({ Addr: `h${i + j}:80` }));
          return lease;
        }),
      )),
    );
  }
  let etcd3Acks = 0;
  for (const lease of leases) lease.on('keepaliveSucceeded', () => etcd3Acks++);
  cpu = process.cpuUsage();
  t = performance.now();
  await new Promise((r) => setTimeout(r, windowMs));
  used = process.cpuUsage(cpu);
  secs = (performance.now() - t) / 1000;
  ctx.record({
    scenario: 'registry',
    variant: `${n} registrations, etcd3 (one Lease object each), TTL ${ttl} s`,
    extra: {
      leases: leases.length,
      'keepalive req/s': etcd3Acks / secs,
      'client CPU %': ((used.user + used.system) / 1000 / (secs * 1000)) * 100,
    },
  });
  await Promise.all(leases.map((l) => l.revoke().catch(() => undefined)));
}

export const scenarios: Scenario[] = [
  { name: 'registry: put → cache, 100 instances', run: (ctx) => putToCache(ctx, 100) },
  { name: 'registry: put → cache, 1000 instances', run: (ctx) => putToCache(ctx, 1000) },
  { name: 'registry: keepalive cost, 1000 registrations', run: (ctx) => keepaliveCost(ctx, 1000, 4000) },
];
