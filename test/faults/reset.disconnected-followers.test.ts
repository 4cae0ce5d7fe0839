/**
 * Followers that are DISCONNECTED (blackholed through a proxy) while etcd restarts empty and the new
 * store is written far past everything they delivered (a store "ahead"), then reconnect. Guarantee: every
 * follower notices the reset and re-reads: config value, discovery cache, observe(), queue pop().
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { usePrivateEtcd, waitFor } from '../support/shared.js';

describe('reset: disconnected followers across a reset to a store that is ahead', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  });

  for (const writerWatches of [true, false]) {
    it(`config, discovery, observe and pop re-read after reconnecting (new store's marker created by another process: ${writerWatches})`, async () => {
      const cluster = etcd.cluster;
      const ns = `brk-${Math.random().toString(16).slice(2, 8)}/`;
      const admin = cluster.client();
      const proxy = await FaultProxy.start(cluster.endpoints[0]!);
      closers.push(() => proxy.close());
      await admin.put(`${ns}app/k`).value('"old"');
      // An instance that exists only in the old history (the new store never has it).
      await admin.put(`${ns}services/svc/old1`).value(JSON.stringify({ Addr: '127.0.0.1:9', Metadata: {} }));
      const f = await connect({
        endpoints: [proxy.endpoint],
        namespace: ns,
        ttlSeconds: 2,
        requestTimeoutMs: 2000,
      });
      closers.push(() => f.close());
      const cfg = await f.config('app/');
      let cfgResets = 0;
      cfg.on('reset', () => cfgResets++);
      const svc = await f.discovery('svc');
      let svcResets = 0;
      svc.on('reset', () => svcResets++);
      const obs = f.election('e').observe();
      const firstLeader = await obs.next();
      expect(firstLeader.value).toBeNull();
      const leaders: unknown[] = [];
      void (async () => {
        try {
          for (;;) {
            const r = await obs.next();
            if (r.done) return;
            leaders.push(r.value);
          }
        } catch (err) {
          leaders.push(err);
        }
      })();
      const q = f.queue<string>('jobs');
      // Old history: a few revisions delivered to the follower.
      for (let i = 0; i < 10; i++) await admin.put(`${ns}app/pad`).value(String(i));
      await waitFor(() => cfg.value && (cfg.value as Record<string, unknown>)['pad'] === 9, {
        message: 'cfg caught up',
      });
      const oldRev = cfg.revision;
      const popped = q.pop({ timeoutMs: 40_000 });
      popped.catch(() => undefined);

      proxy.blackhole();
      await cluster.members[0]!.restart({ wipeData: true });
      const admin2 = cluster.client();
      // The new store: written well past what the follower delivered.
      for (let i = 0; i < Number(oldRev) + 40; i++) await admin2.put(`pad/${i}`).value('x');
      await admin2.put(`${ns}app/k`).value('"new"');
      const w = await connect({ endpoints: cluster.endpoints, namespace: ns, ttlSeconds: 2 });
      closers.push(() => w.close());
      if (writerWatches) {
        const wc = await w.config('app/');
        closers.push(() => wc.close());
      }
      const reg = await w.registry('svc').register({ id: 'w1', address: '127.0.0.1:1' });
      closers.push(() => reg.deregister());
      const term = await w.election('e').campaign('W');
      closers.push(() => term.resign());
      await w.queue<string>('jobs').push('after-reset');
      for (let i = 0; i < 20; i++) await admin2.put(`pad2/${i}`).value('x');
      const marker = await admin2.get(`${ns}\0etcd-coord/epoch`).string();
      console.log(
        'old delivered',
        oldRev,
        'new store rev',
        await cluster.currentRevision(),
        'marker in new store',
        marker,
      );

      proxy.pass();
      const t0 = Date.now();
      const problems: string[] = [];
      await waitFor(() => (cfg.value as Record<string, unknown>)['k'] === 'new', {
        timeoutMs: 20_000,
        message: 'config re-read',
      }).catch((e: Error) => problems.push(`config: ${e.message}; value ${JSON.stringify(cfg.value)}`));
      await waitFor(() => svc.instances().some((i) => i.id === 'w1'), {
        timeoutMs: 10_000,
        message: 'discovery re-read',
      }).catch((e: Error) => problems.push(`discovery: ${e.message}`));
      await waitFor(
        () =>
          leaders.some(
            (l) =>
              (l as { value?: unknown } | null)?.value !== undefined &&
              String((l as { value: unknown }).value) === 'W',
          ),
        { timeoutMs: 10_000, message: 'observe saw W' },
      ).catch((e: Error) =>
        problems.push(
          `observe: ${e.message}; got ${JSON.stringify(leaders, (_, v) => (typeof v === 'bigint' ? String(v) : Buffer.isBuffer(v) ? v.toString() : v))}`,
        ),
      );
      const job = await Promise.race([
        popped,
        new Promise((r) => setTimeout(() => r('timeout'), 15_000)),
      ]).catch((e: Error) => e);
      if (job === 'timeout' || job instanceof Error) problems.push(`pop: ${String(job)}`);
      else await (job as { ack(): Promise<void> }).ack();
      console.log(
        'settled after',
        Date.now() - t0,
        'ms; cfg resets',
        cfgResets,
        'svc resets',
        svcResets,
        'hub resets',
        f.watchHub.resets,
        'hub reconnects',
        f.watchHub.reconnects,
        'cfg',
        JSON.stringify(cfg.value),
        'cfg.revision',
        cfg.revision,
        'svc',
        svc.instances().map((i) => i.id),
      );
      await obs.return();
      expect.soft(problems).toEqual([]);
      // The new store has no app/pad: a state that still has it mixes the old history into the new one.
      expect.soft(cfg.value, 'config must be the new store exactly').toEqual({ k: 'new' });
      expect
        .soft(
          svc
            .instances()
            .map((i) => i.id)
            .sort(),
          'discovery must not keep an instance of the old history',
        )
        .toEqual(['w1']);
      expect.soft(cfgResets).toBeGreaterThanOrEqual(1);
      expect.soft(svcResets).toBeGreaterThanOrEqual(1);
    });
  }
});
