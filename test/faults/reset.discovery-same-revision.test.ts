/**
 * Discovery across a reset (follower connected, reset noticed) where the new history registers the
 * same instance id at the same mod revision number but with another address — e.g. every service
 * re-registering in the same order after an empty restart. Guarantee: after the re-read the cache is the new
 * store: `instances()` shows the new address.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { usePrivateEtcd, waitFor } from '../support/shared.js';

describe('reset: discovery cache across a reset with colliding revisions', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('the re-read replaces an instance whose mod revision number happens to be the same', async () => {
    const cluster = etcd.cluster;
    const ns = 'reset-disc/';
    const admin = cluster.client();
    const key = `${ns}services/svc/i1`;
    for (let i = 0; i < 20; i++) await admin.put('pad').value(String(i));
    await admin.put(key).value(JSON.stringify({ Addr: '10.0.0.1:80', Metadata: {} }));
    const oldRev = BigInt((await admin.get(key).exec()).kvs[0]!.mod_revision);
    const f = await connect({
      endpoints: cluster.endpoints,
      namespace: ns,
      ttlSeconds: 10,
      requestTimeoutMs: 2000,
    });
    closers.push(() => f.close());
    const svc = await f.discovery('svc');
    let resets = 0;
    svc.on('reset', () => resets++);
    expect(svc.instances().map((i) => i.address)).toEqual(['10.0.0.1:80']);

    await cluster.members[0]!.restart({ wipeData: true });
    await waitFor(() => f.watchHub.resets > 0, { timeoutMs: 15_000, message: 'reset noticed' });
    await waitFor(() => resets > 0, { timeoutMs: 10_000, message: 'discovery re-read' });
    const admin2 = cluster.client();
    // The follower's re-read of the (empty) new store removed i1; now the same id comes back at the same
    // revision number with a new address.
    while ((await cluster.currentRevision()) < oldRev - 1n) await admin2.put('pad2').value('x');
    await admin2.put(key).value(JSON.stringify({ Addr: '10.0.0.2:80', Metadata: {} }));
    const newRev = BigInt((await admin2.get(key).exec()).kvs[0]!.mod_revision);
    await new Promise((r) => setTimeout(r, 1500));
    console.log(
      `old rev ${oldRev}, new rev ${newRev}; instances now`,
      svc.instances().map((i) => `${i.id}=${i.address}`),
    );
    expect(svc.instances().map((i) => i.address)).toEqual(['10.0.0.2:80']);
  });

  it('same, when the new store already has the instance at the same revision before the follower re-reads', async () => {
    const cluster = etcd.cluster;
    await cluster.members[0]!.restart({ wipeData: true });
    const ns = 'reset-disc2/';
    const admin = cluster.client();
    const key = `${ns}services/svc/i1`;
    for (let i = 0; i < 20; i++) await admin.put('pad').value(String(i));
    await admin.put(key).value(JSON.stringify({ Addr: '10.0.0.1:80', Metadata: {} }));
    const oldRev = BigInt((await admin.get(key).exec()).kvs[0]!.mod_revision);
    const proxy = await FaultProxy.start(cluster.endpoints[0]!);
    closers.push(() => proxy.close());
    const f = await connect({
      endpoints: [proxy.endpoint],
      namespace: ns,
      ttlSeconds: 10,
      requestTimeoutMs: 2000,
    });
    closers.push(() => f.close());
    const svc = await f.discovery('svc');
    // The follower can reach nothing (connections refused upstream) while the new store is rebuilt.
    proxy.retarget('127.0.0.1:1');
    // Kill, wipe, and rebuild the same revisions with a new address BEFORE the follower can reconnect.
    const m = cluster.members[0]!;
    await m.kill();
    await m.restart({ wipeData: true });
    const admin2 = cluster.client();
    while ((await cluster.currentRevision()) < oldRev - 1n) await admin2.put('pad').value('x');
    await admin2.put(key).value(JSON.stringify({ Addr: '10.0.0.2:80', Metadata: {} }));
    const newRev = BigInt((await admin2.get(key).exec()).kvs[0]!.mod_revision);
    const w = await connect({
      endpoints: cluster.endpoints,
      namespace: ns,
      ttlSeconds: 10,
      requestTimeoutMs: 2000,
    });
    closers.push(() => w.close());
    await w.config('x/'); // the new store gets its marker from another process
    proxy.retarget(cluster.endpoints[0]!);
    proxy.reset();
    await waitFor(() => f.watchHub.resets > 0, { timeoutMs: 15_000, message: 'reset noticed' }).catch(
      () => undefined,
    );
    await new Promise((r) => setTimeout(r, 1500));
    console.log(
      `old rev ${oldRev}, new rev ${newRev}; hub resets ${f.watchHub.resets}; instances now`,
      svc.instances().map((i) => `${i.id}=${i.address}`),
    );
    expect(svc.instances().map((i) => i.address)).toEqual(['10.0.0.2:80']);
  });
});
