/**
 * Security: what TLS and authentication cost. The same work — Counter.increment (one put) at concurrency 1
 * and with 8 clients, and connect() + close() — on the plain bench etcd, on an etcd serving TLS, and on one
 * serving TLS with auth (password login, RBAC-limited user in its namespace). The two secure etcds are
 * started for this scenario with a throwaway CA (test/support/secure-etcd.ts).
 */
import { connect, type ConnectOptions, type Coordinator } from '../../src/index.js';
import { measure, percentile, type BenchContext, type Scenario } from '../lib.js';
import { startSecureEtcd, type SecureEtcd } from '../../test/support/secure-etcd.js';

type Target = { label: string; opts: ConnectOptions };

async function increments(ctx: BenchContext, target: Target, clients: 1 | 8): Promise<void> {
  const coords: Coordinator[] = [];
  try {
    for (let i = 0; i < clients; i++) coords.push(await connect({ ...target.opts, ttlSeconds: 10 }));
    const counters = coords.map((c) => c.counter(`bench-security-${process.pid}-${clients}`));
    await Promise.all(counters.map((c) => c.increment())); // warm: connections, logins
    const total = clients === 1 ? 1000 : 4000;
    const { opsPerSec, latencies } = await measure(total, clients, async (w) => {
      await counters[w]!.increment();
    });
    ctx.record({
      scenario: 'security',
      variant: `Counter.increment, ${clients} client${clients === 1 ? '' : 's'}, ${target.label}`,
      opsPerSec,
      ratioTo: clients === 1 ? 'rawPut1' : 'rawPut8',
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
    });
    await counters[0]!.reset();
  } finally {
    await Promise.all(coords.map((c) => c.close()));
  }
}

async function connects(ctx: BenchContext, target: Target): Promise<void> {
  const { latencies } = await measure(15, 1, async () => {
    const coord = await connect({ ...target.opts, ttlSeconds: 10 });
    await coord.close();
  });
  ctx.record({
    scenario: 'security',
    variant: `connect() + close(), ${target.label}`,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    extra: {
      note: `new channel${target.label === 'plain' ? '' : ', TLS handshake'}${target.opts.auth ? ', login (bcrypt on the server)' : ''}, lease grant + revoke`,
    },
  });
}

async function run(ctx: BenchContext): Promise<void> {
  const started: SecureEtcd[] = [];
  try {
    const tlsOnly = await startSecureEtcd({ tls: true, auth: false });
    started.push(tlsOnly);
    const tlsAuth = await startSecureEtcd({ tls: true, auth: true });
    started.push(tlsAuth);
    const targets: Target[] = [
      { label: 'plain', opts: { endpoints: ctx.endpoints, namespace: ctx.prefix('security') } },
      { label: 'TLS', opts: { endpoints: [tlsOnly.url], tls: tlsOnly.tlsFor(), namespace: 'app1/bench/' } },
      {
        label: 'TLS + auth',
        opts: {
          endpoints: [tlsAuth.url],
          tls: tlsAuth.tlsFor(),
          auth: { username: 'app1', password: tlsAuth.passwords.app1 },
          namespace: 'app1/bench/',
        },
      },
    ];
    for (const target of targets) {
      ctx.log(target.label);
      await increments(ctx, target, 1);
      await increments(ctx, target, 8);
      await connects(ctx, target);
    }
  } finally {
    await Promise.all(started.map((e) => e.stop()));
  }
}

export const scenarios: Scenario[] = [{ name: 'security', run }];
