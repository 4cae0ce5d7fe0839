/**
 * Loading while etcd is unreachable fails within the deadline instead of hanging; following resumes
 * after a blackhole (a connection that stays open but carries nothing).
 */
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError, connect, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { usePrivateEtcd, waitFor } from '../support/shared.js';

describe('WatchedConfig: etcd unreachable', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  let proxy: FaultProxy;
  let coord: Coordinator;
  let admin: Etcd3;

  beforeAll(async () => {
    proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    coord = await connect({
      endpoints: [proxy.endpoint],
      namespace: 'ns/',
      ttlSeconds: 10,
      requestTimeoutMs: 1000,
    });
    admin = etcd.cluster.client();
  });
  afterAll(async () => {
    await coord?.close();
    await proxy?.close();
  });

  it('config() while blackholed rejects with UnavailableError at the deadline; nothing stays open', async () => {
    proxy.blackhole();
    proxy.reset();
    try {
      await expect(coord.config('down/config/', { timeoutMs: 1500 })).rejects.toBeInstanceOf(
        UnavailableError,
      );
      // Without timeoutMs: twice the coordinator's request timeout.
      await expect(coord.config('down/config/')).rejects.toThrow(/not loaded within 2000 ms/);
      expect(coord.watchHub.watcherCount).toBe(0);
    } finally {
      proxy.pass();
    }
  });

  it('a blackhole while following: updates made meanwhile arrive once the connection is back', async () => {
    const cfg = await waitFor(() => coord.config('back/config/'), { timeoutMs: 20_000 });
    const seen: number[] = [];
    cfg.on('change', (next) => seen.push((next as { n: number }).n));
    try {
      await admin.put('ns/back/config/n').value('1');
      await waitFor(() => seen.length === 1);
      proxy.blackhole();
      for (let n = 2; n <= 5; n++) await admin.put('ns/back/config/n').value(String(n));
      proxy.pass();
      await waitFor(() => seen.length === 5, { timeoutMs: 30_000, message: '4 updates after the blackhole' });
      expect(seen).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await cfg.close();
    }
  });
});
