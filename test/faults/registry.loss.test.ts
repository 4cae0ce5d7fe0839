/**
 * Registrations survive lease loss (blackhole past the TTL, etcd restarted without its data), and the
 * discovery cache stays exact across proxy resets and a compaction while it was disconnected.
 */
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { connect, type ServiceDiscovery } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { spawnNode, uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

/** The prefix as a direct read sees it: id → [address, modRevision]. */
async function directView(etcd: { cluster: { client(): Etcd3 } }, prefix: string): Promise<string> {
  const res = await etcd.cluster.client().getAll().prefix(prefix).exec();
  const rows = res.kvs.map((kv) => {
    const v = JSON.parse(kv.value.toString()) as { Addr: string };
    return `${kv.key.toString().slice(prefix.length)}=${v.Addr}@${kv.mod_revision}`;
  });
  return rows.sort().join(',');
}

function cacheView(svc: ServiceDiscovery): string {
  return svc
    .instances()
    .map((i) => `${i.id}=${i.address}@${i.revision}`)
    .sort()
    .join(',');
}

describe('registry under faults (private etcd)', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('blackholed for longer than the TTL, then healed: lost, then restored and visible again', async () => {
    const ns = uniquePrefix('reg-bh');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace: ns,
      ttlSeconds: 2,
      requestTimeoutMs: 1000,
    });
    const watcher = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 2 });
    try {
      const svc = await watcher.discovery('api');
      const reg = await coord.registry('api').register({ id: 'a1', address: 'a1:80' });
      const events: string[] = [];
      reg.on('lost', () => events.push('lost'));
      reg.on('restored', () => events.push('restored'));
      const downs: string[] = [];
      svc.on('down', (i) => {
        downs.push(i.id);
        events.push(`down ${i.id}`);
      });
      await waitFor(() => svc.get('a1'));
      const first = reg.leaseId;
      let lastAck = performance.now();
      let lostAfterAckMs = Number.NaN;
      const session = coord.session;
      session.on('keepalive', () => (lastAck = performance.now()));
      reg.once('lost', () => (lostAfterAckMs = performance.now() - lastAck));

      proxy.blackhole();
      await waitFor(() => events.includes('lost'), { timeoutMs: 10_000, message: 'lost while blackholed' });
      expect(reg.registered).toBe(false);
      await waitFor(() => downs.includes('a1'), { timeoutMs: 15_000, message: 'server expired the lease' });
      // update() while lost waits for the re-registration, which writes the new metadata.
      const updated = reg.update({ v: 2 });
      proxy.pass();

      await waitFor(() => events.includes('restored'), { timeoutMs: 30_000, message: 'restored after heal' });
      // `lost` comes first: declared on our clock before the server could expire the lease and delete the key.
      expect(events).toEqual(['lost', 'down a1', 'restored']);
      // Within the TTL of the last acknowledged keepalive (the session's monotonic-clock rule).
      expect(lostAfterAckMs).toBeLessThanOrEqual(reg.ttlSeconds * 1000);
      expect(reg.leaseId).not.toBe(first);
      await waitFor(() => svc.get('a1')?.leaseId === reg.leaseId, {
        message: 'visible again under the new lease',
      });
      await updated;
      await waitFor(() => svc.get('a1')?.metadata.v === 2, {
        message: 'metadata given while lost is published',
      });
    } finally {
      proxy.pass();
      await coord.close();
      await watcher.close();
      await proxy.close();
    }
  });

  it('registering process paused (SIGSTOP) past the TTL: on resume it reports lost, then restored', async () => {
    const ns = uniquePrefix('reg-stop');
    const watcher = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 2 });
    const worker = spawnNode(
      'test/workers/registry-ops.ts',
      ['api', JSON.stringify([{ op: 'reg', id: 'p1', addr: 'p1:80' }, { op: 'hold' }])],
      {
        env: { ETCD_ENDPOINTS: etcd.cluster.endpoints.join(','), REGISTRY_NAMESPACE: ns },
      },
    );
    try {
      const svc = await watcher.discovery('api');
      const downs: string[] = [];
      svc.on('down', (i) => downs.push(i.id));
      await worker.waitForLine(/^holding/, 30_000);
      await waitFor(() => svc.get('p1'));
      const before = svc.get('p1')!.leaseId;
      worker.pause();
      await waitFor(() => downs.includes('p1'), { timeoutMs: 15_000, message: 'lease expired while paused' });
      worker.resume();
      await worker.waitForLine(/^lost p1/, 15_000);
      await worker.waitForLine(/^restored p1/, 30_000);
      await waitFor(() => svc.get('p1') !== undefined && svc.get('p1')!.leaseId !== before, {
        message: 'p1 back',
      });
    } finally {
      await worker.stop();
      await watcher.close();
    }
  });

  it('no event lost or duplicated across proxy resets; the cache equals a direct read', async () => {
    const ns = uniquePrefix('reg-reset');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const watcher = await connect({ endpoints: [proxy.endpoint], namespace: ns, ttlSeconds: 5 });
    const admin = etcd.cluster.client();
    const prefix = `${ns}services/api/`;
    try {
      const svc = await watcher.discovery('api');
      const seen: bigint[] = [];
      svc.on('update', (rev) => seen.push(rev));
      const written: bigint[] = [];
      for (let i = 0; i < 60; i++) {
        const id = `i${i % 7}`;
        const res =
          i % 5 === 4
            ? await admin.delete().key(`${prefix}${id}`).exec()
            : await admin
                .put(`${prefix}${id}`)
                .value(JSON.stringify({ Addr: `h${i}:80`, Metadata: { i } }))
                .exec();
        if (!('deleted' in res) || res.deleted !== '0') written.push(BigInt(res.header.revision));
        if (i % 10 === 5) proxy.reset();
      }
      const last = written.at(-1)!;
      await waitFor(() => svc.revision >= last, { timeoutMs: 20_000, message: 'caught up after resets' });
      // The first update is the snapshot; every write after it arrives exactly once, in order.
      expect(seen.slice(1)).toEqual(written.filter((r) => r > seen[0]!));
      expect(cacheView(svc)).toBe(await directView(etcd, prefix));
      expect(watcher.watchHub.reconnects, 'the resets broke the watch stream').toBeGreaterThan(0);
    } finally {
      await watcher.close();
      await proxy.close();
    }
  });

  it('compaction while disconnected: re-snapshot, up/down for the difference, still equal to a direct read', async () => {
    const ns = uniquePrefix('reg-compact');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const watcher = await connect({
      endpoints: [proxy.endpoint],
      namespace: ns,
      ttlSeconds: 30,
      requestTimeoutMs: 1000,
    });
    const admin = etcd.cluster.client();
    const prefix = `${ns}services/api/`;
    try {
      for (const id of ['a', 'b', 'c'])
        await admin.put(`${prefix}${id}`).value(JSON.stringify({ Addr: `${id}:1` }));
      const svc = await watcher.discovery('api');
      expect(svc.size).toBe(3);
      const log: string[] = [];
      svc.on('up', (i) => log.push(`up ${i.id}`));
      svc.on('down', (i) => log.push(`down ${i.id}`));
      svc.on('change', (i) => log.push(`change ${i.id}`));

      proxy.blackhole();
      await admin.delete().key(`${prefix}a`);
      await admin.put(`${prefix}b`).value(JSON.stringify({ Addr: 'b:2' }));
      await admin.put(`${prefix}d`).value(JSON.stringify({ Addr: 'd:1' }));
      await admin.put(`${prefix}tmp`).value(JSON.stringify({ Addr: 'tmp:1' }));
      await admin.delete().key(`${prefix}tmp`);
      await etcd.cluster.compact();
      proxy.pass();

      await waitFor(async () => cacheView(svc) === (await directView(etcd, prefix)), {
        timeoutMs: 30_000,
        message: 're-snapshot',
      });
      expect(log.sort()).toEqual(['change b', 'down a', 'up d']);
      expect(svc.instances().map((i) => i.address)).toEqual(['b:2', 'c:1', 'd:1']);
    } finally {
      proxy.pass();
      await watcher.close();
      await proxy.close();
    }
  });

  it('etcd restarted with an empty data dir: every registration restored and visible again', async () => {
    const ns = uniquePrefix('reg-wipe');
    const coord = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: ns,
      ttlSeconds: 2,
      requestTimeoutMs: 1000,
    });
    try {
      const registry = coord.registry('api');
      const regs = await Promise.all(
        ['w1', 'w2', 'w3'].map((id) =>
          registry.register({ id, address: `${id}:80`, ...(id === 'w3' ? { ttlSeconds: 3 } : {}) }),
        ),
      );
      // A discovery open across the wipe must notice the store went back in time and re-read it.
      const open = await coord.discovery('api');
      await waitFor(() => open.size === 3);
      const restored = new Set<string>();
      const lost = new Set<string>();
      for (const r of regs) {
        r.on('lost', () => lost.add(r.id));
        r.on('restored', () => restored.add(r.id));
      }
      await etcd.cluster.members[0]!.restart({ wipeData: true });
      await waitFor(() => restored.size === 3, { timeoutMs: 30_000, message: 'all three restored' });
      expect([...lost].sort()).toEqual(['w1', 'w2', 'w3']);
      const keys = await etcd.cluster.client().getAll().prefix(`${ns}services/api/`).keys();
      expect(keys.sort()).toEqual(['w1', 'w2', 'w3'].map((id) => `${ns}services/api/${id}`));
      const svc = await coord.discovery('api');
      expect(svc.instances().map((i) => i.id)).toEqual(['w1', 'w2', 'w3']);
      await waitFor(() => cacheView(open) === cacheView(svc), {
        timeoutMs: 20_000,
        message: 'open discovery re-read after the wipe',
      });
      expect(open.instances().map((i) => i.leaseId)).toEqual(regs.map((r) => r.leaseId));
      expect(regs[0]!.leaseId).toBe(regs[1]!.leaseId);
      expect(regs[2]!.leaseId).not.toBe(regs[0]!.leaseId);
    } finally {
      await coord.close();
    }
  });
});
