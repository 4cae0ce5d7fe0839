/**
 * Acceptance 5: a 3-member cluster; kill -9 the member the config's watch stream goes to; updates keep
 * arriving, none missed, in order. Each member sits behind its own FaultProxy so the test can see
 * which member carries the watch (the one whose proxy forwards the watch events).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import type { EtcdMember } from '../support/etcd.js';
import { FaultProxy } from '../support/proxy.js';
import { usePrivateEtcd, waitFor } from '../support/shared.js';

/** A put retried while the cluster recovers; repeating a put of the same value is harmless here. */
async function putWithRetry(client: Etcd3, key: string, value: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client
        .put(key)
        .value(value)
        .options({ deadline: Date.now() + 2_000 })
        .exec();
      return;
    } catch (err) {
      if (attempt >= 30) throw err;
      await sleep(100);
    }
  }
}

describe('WatchedConfig on a 3-member cluster', () => {
  const etcd = usePrivateEtcd({ members: 3 });
  let proxies: FaultProxy[] = [];
  let coord: Coordinator;
  let admin: Etcd3;

  beforeAll(async () => {
    proxies = await Promise.all(etcd.cluster.endpoints.map((e) => FaultProxy.start(e)));
    coord = await connect({ endpoints: proxies.map((p) => p.endpoint), namespace: 'ns/', ttlSeconds: 10 });
    admin = etcd.cluster.client();
  });
  afterAll(async () => {
    await coord?.close();
    await Promise.all(proxies.map((p) => p.close()));
  });

  it('kill -9 of the member the client watches through: updates keep arriving, in order, none missed', async () => {
    const cfg = await coord.config('app/config/');
    const seen: number[] = [];
    cfg.on('change', (next, _prev, info) => {
      if (info.changedKeys.includes('n')) seen.push((next as { n: number }).n);
    });
    try {
      // Find the watch's member: big values flow back only through the proxy that carries the watch.
      const before = proxies.map((p) => p.bytesForwarded);
      const big = 'x'.repeat(50_000);
      await admin.put('ns/app/config/blob').value(big);
      await waitFor(() => (cfg.value as { blob?: string }).blob === big);
      const grown = proxies.map((p, i) => p.bytesForwarded - before[i]!);
      const index = grown.indexOf(Math.max(...grown));
      expect(grown[index]).toBeGreaterThan(50_000);
      const victim: EtcdMember = etcd.cluster.members[index]!;

      let n = 0;
      let running = true;
      const writer = (async () => {
        while (running) await putWithRetry(admin, 'ns/app/config/n', String(++n));
      })();
      try {
        await waitFor(() => seen.length >= 5, { message: '5 updates before the kill' });
        await victim.kill();
        const atKill = n;
        await waitFor(() => seen.length > 0 && seen[seen.length - 1]! >= atKill + 20, {
          timeoutMs: 30_000,
          message: '20 updates after the kill',
        });
      } finally {
        running = false;
        await writer;
      }
      await waitFor(() => seen[seen.length - 1] === n, { timeoutMs: 15_000, message: 'the last update' });
      // Every value written reached the config, in order (a retried put may repeat a value, never skip one).
      for (let i = 1; i < seen.length; i++) expect(seen[i]! - seen[i - 1]!).toBeGreaterThanOrEqual(0);
      for (let i = 1; i < seen.length; i++) expect(seen[i]! - seen[i - 1]!).toBeLessThanOrEqual(1);
      expect(seen[0]).toBe(1);
      expect(cfg.value).toMatchObject({ n });
      // The watch really moved: another big value now flows through a surviving member's proxy.
      const after = proxies.map((p) => p.bytesForwarded);
      await admin.put('ns/app/config/blob').value(big.toUpperCase());
      await waitFor(() => (cfg.value as { blob?: string }).blob === big.toUpperCase());
      const moved = proxies.map((p, i) => p.bytesForwarded - after[i]!);
      // (A reconnect attempt to the dead member may push its connection preface into that proxy: a few
      // dozen bytes, never the value.)
      expect(moved[index]).toBeLessThan(1000);
      expect(Math.max(...moved)).toBeGreaterThan(50_000);
    } finally {
      await cfg.close();
    }
  });
});
