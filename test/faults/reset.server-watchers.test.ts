/**
 * After a store reset the followers re-subscribe; once they are all closed, no etcd watcher of this
 * client may stay open on the server (etcd's `etcd_debugging_mvcc_watcher_total` gauge back to 0).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { usePrivateEtcd, waitFor } from '../support/shared.js';

async function serverWatchers(endpoint: string): Promise<number> {
  const text = await (await fetch(`http://${endpoint}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('etcd_debugging_mvcc_watcher_total '));
  return Number(line?.split(' ')[1] ?? NaN);
}

describe('reset: server-side watchers after a reset', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('closing every follower after a reset leaves no watcher on etcd', async () => {
    const cluster = etcd.cluster;
    const ep = cluster.endpoints[0]!;
    const ns = `brk-${Math.random().toString(16).slice(2, 8)}/`;
    const a = await connect({
      endpoints: cluster.endpoints,
      namespace: ns,
      ttlSeconds: 10,
      requestTimeoutMs: 2000,
    });
    closers.push(() => a.close());
    const cfg = await a.config('app/');
    const svc = await a.discovery('svc');
    const obs = a.election('e').observe();
    await obs.next();
    console.log('server watchers with 3 followers', await serverWatchers(ep), 'hub', a.watchHub.watcherCount);
    await cluster.members[0]!.restart({ wipeData: true });
    await waitFor(() => a.watchHub.resets > 0, { timeoutMs: 15_000, message: 'reset noticed' });
    await new Promise((r) => setTimeout(r, 2000));
    console.log('after reset: server watchers', await serverWatchers(ep), 'hub', a.watchHub.watcherCount);
    await cfg.close();
    await svc.close();
    await obs.return();
    await new Promise((r) => setTimeout(r, 1000));
    const left = await serverWatchers(ep);
    console.log('after closing: server watchers', left, 'hub', a.watchHub.watcherCount);
    expect(a.watchHub.watcherCount).toBe(0);
    expect(left).toBe(0);
  });
});
