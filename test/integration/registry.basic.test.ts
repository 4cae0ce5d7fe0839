import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type ServiceDiscovery, type ServiceInstance } from '../../src/index.js';
import { spawnNode, useSharedEtcd, waitFor } from '../support/shared.js';

describe('registry: register, discover, deregister', () => {
  const etcd = useSharedEtcd('registry-basic');
  const opened: Coordinator[] = [];
  const open = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    opened.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.close()));
  });
  const ids = (svc: ServiceDiscovery): string[] => svc.instances().map((i) => i.id);

  it('a registration is visible to discovery with the naming/endpoints value; deregister() removes it at once', async () => {
    const coord = await open();
    const watcher = await open();
    const svc = await watcher.discovery('pay');
    const ups: ServiceInstance[] = [];
    svc.on('up', (i) => ups.push(i));
    const reg = await coord
      .registry('pay')
      .register({ id: 'p1', address: '10.0.0.1:8443', metadata: { zone: 'a' } });
    await waitFor(() => svc.get('p1'), { message: 'p1 visible' });
    expect(svc.get('p1')).toMatchObject({
      address: '10.0.0.1:8443',
      metadata: { zone: 'a' },
      leaseId: coord.session.leaseId,
    });
    expect(ups.map((i) => i.id)).toEqual(['p1']);
    const raw = await etcd.admin.get(`${etcd.prefix}services/pay/p1`).string();
    expect(JSON.parse(raw ?? 'null')).toEqual({ Addr: '10.0.0.1:8443', Metadata: { zone: 'a' } });

    const changes: ServiceInstance[] = [];
    svc.on('change', (i) => changes.push(i));
    await reg.update({ zone: 'b' });
    await waitFor(() => svc.get('p1')?.metadata.zone === 'b', { message: 'update seen' });
    expect(changes).toHaveLength(1);

    await reg.deregister();
    await reg.deregister(); // idempotent
    expect(await etcd.admin.get(`${etcd.prefix}services/pay/p1`).string()).toBeNull();
    await waitFor(() => svc.size === 0, { message: 'p1 gone' });
    await svc.close();
  });

  it('close() and coord.close() remove the instances at once (no TTL wait)', async () => {
    const a = await open();
    const b = await open();
    const watcher = await open();
    const svc = await watcher.discovery('close');
    const ra = await a.registry('close').register({ id: 'a', address: 'a.local:1' });
    await b.registry('close').register({ id: 'b', address: 'b.local:1' });
    await b.registry('close').register({ id: 'b2', address: 'b.local:2', ttlSeconds: 3 });
    await waitFor(() => svc.size === 3, { message: 'three up' });
    await ra.close();
    expect(await etcd.admin.get(`${etcd.prefix}services/close/a`).string()).toBeNull();
    await b.close();
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}services/close/`).keys()).toEqual([]);
    await waitFor(() => svc.size === 0, { message: 'all down' });
  });

  it('kill -9 of the registering process removes its instance after the TTL', async () => {
    const watcher = await open();
    const svc = await watcher.discovery('crash');
    const worker = spawnNode(
      'test/workers/registry-ops.ts',
      ['crash', JSON.stringify([{ op: 'reg', id: 'w1', addr: 'w1:80' }, { op: 'hold' }])],
      {
        env: { ETCD_ENDPOINTS: etcd.endpoints.join(','), REGISTRY_NAMESPACE: etcd.prefix },
      },
    );
    try {
      await worker.waitForLine(/^holding/, 30_000);
      await waitFor(() => svc.get('w1'), { message: 'w1 up' });
      const downs: string[] = [];
      svc.on('down', (i) => downs.push(i.id));
      worker.kill('SIGKILL');
      await worker.exited;
      await waitFor(() => downs.includes('w1'), { timeoutMs: 20_000, message: 'w1 expired' });
      expect(svc.size).toBe(0);
    } finally {
      await worker.stop();
    }
  });

  it('a lease revoked by another client: lost, then restored under a new lease, visible again', async () => {
    const coord = await open();
    const watcher = await open();
    const svc = await watcher.discovery('revoke');
    const reg = await coord.registry('revoke').register({ id: 'r1', address: 'r1:80' });
    const first = reg.leaseId!;
    const events: string[] = [];
    reg.on('lost', () => events.push('lost'));
    reg.on('restored', () => events.push('restored'));
    await waitFor(() => svc.get('r1'));
    await etcd.admin.leaseClient.leaseRevoke({ ID: first.toString() });
    await waitFor(() => events.includes('restored'), { timeoutMs: 20_000, message: 'restored' });
    expect(events).toEqual(['lost', 'restored']);
    expect(reg.leaseId).not.toBe(first);
    await waitFor(() => svc.get('r1')?.leaseId === reg.leaseId, { message: 'visible under the new lease' });
    // update() still works on the new lease.
    await reg.update({ v: 2 });
    await waitFor(() => svc.get('r1')?.metadata.v === 2);
  });

  it('registrations with another TTL share one separate lease, revoked when the last of them leaves', async () => {
    const coord = await open();
    const registry = coord.registry('ttl');
    const [a, b, c] = await Promise.all([
      registry.register({ id: 'a', address: 'a:1', ttlSeconds: 4 }),
      registry.register({ id: 'b', address: 'b:1', ttlSeconds: 4 }),
      registry.register({ id: 'c', address: 'c:1' }),
    ]);
    expect(a!.leaseId).toBe(b!.leaseId);
    expect(a!.leaseId).not.toBe(coord.session.leaseId);
    expect(c!.leaseId).toBe(coord.session.leaseId);
    const separate = a!.leaseId!;
    const ttlOf = async (id: bigint) =>
      Number((await etcd.admin.leaseClient.leaseTimeToLive({ ID: id.toString() })).TTL);
    expect(await ttlOf(separate)).toBeGreaterThan(0);
    await a!.deregister();
    expect(await ttlOf(separate)).toBeGreaterThan(0); // b still on it
    await b!.deregister();
    await waitFor(async () => (await ttlOf(separate)) === -1, { message: 'separate lease revoked' });
    expect(await ttlOf(coord.session.leaseId)).toBeGreaterThan(0);
  });

  it('a key deleted by hand is re-registered by the next update()', async () => {
    const coord = await open();
    const reg = await coord.registry('byhand').register({ id: 'h1', address: 'h1:80' });
    const events: string[] = [];
    reg.on('lost', () => events.push('lost'));
    reg.on('restored', () => events.push('restored'));
    await etcd.admin.delete().key(`${etcd.prefix}services/byhand/h1`);
    await reg.update({ back: true });
    expect(events).toEqual(['lost', 'restored']);
    const raw = await etcd.admin.get(`${etcd.prefix}services/byhand/h1`).string();
    expect(JSON.parse(raw ?? 'null')).toEqual({ Addr: 'h1:80', Metadata: { back: true } });
  });

  it('never clobbers another live instance with the same id', async () => {
    const a = await open();
    const b = await open();
    await a.registry('dup').register({ id: 'same', address: 'a:1' });
    await expect(b.registry('dup').register({ id: 'same', address: 'b:1' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await expect(a.registry('dup').register({ id: 'same', address: 'a:2' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    expect(
      JSON.parse((await etcd.admin.get(`${etcd.prefix}services/dup/same`).string()) ?? ''),
    ).toMatchObject({ Addr: 'a:1' });
  });

  it('1,000 registrations in one process share one lease; discovery sees all 1,000', async () => {
    const coord = await open();
    const watcher = await open();
    const svc = await watcher.discovery('many');
    const registry = coord.registry('many');
    const regs = [];
    for (let batch = 0; batch < 10; batch++) {
      regs.push(
        ...(await Promise.all(
          Array.from({ length: 100 }, (_, i) =>
            registry.register({ id: `i${batch * 100 + i}`, address: `10.1.${batch}.${i}:80` }),
          ),
        )),
      );
    }
    expect(new Set(regs.map((r) => r.leaseId))).toEqual(new Set([coord.session.leaseId]));
    await waitFor(() => svc.size === 1000, { timeoutMs: 30_000, message: '1000 discovered' });
    expect(new Set(svc.instances().map((i) => i.leaseId))).toEqual(new Set([coord.session.leaseId]));
    const picks = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const id = svc.pick('round-robin')!.id;
      picks.set(id, (picks.get(id) ?? 0) + 1);
    }
    expect(picks.size).toBe(1000);
    expect(new Set(picks.values())).toEqual(new Set([2]));
    const late = await watcher.discovery('many'); // snapshot path, paginated
    expect(late.size).toBe(1000);
    await late.close();
    await svc.close();
  });

  it("pick('round-robin') cycles fairly; pick('random') stays inside the set", async () => {
    const coord = await open();
    const svc = await coord.discovery('rr');
    expect(svc.pick()).toBeUndefined();
    for (const id of ['x', 'y', 'z']) await coord.registry('rr').register({ id, address: `${id}:80` });
    await waitFor(() => svc.size === 3);
    const counts = new Map<string, number>();
    let last = '';
    for (let i = 0; i < 300; i++) {
      const id = svc.pick('round-robin')!.id;
      expect(id).not.toBe(last);
      last = id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([100, 100, 100]);
    for (let i = 0; i < 50; i++) expect(['x', 'y', 'z']).toContain(svc.pick('random')!.id);
    expect(() => svc.pick('least-loaded' as never)).toThrow(/strategy/);
  });

  it('changes() yields the current list, then the latest after changes; break ends it', async () => {
    const coord = await open();
    const svc = await coord.discovery('iter');
    const it = svc.changes();
    expect((await it.next()).value).toEqual([]);
    await coord.registry('iter').register({ id: 'a', address: 'a:1' });
    await coord.registry('iter').register({ id: 'b', address: 'b:1' });
    await waitFor(() => svc.size === 2);
    // A slow consumer gets the latest list only, not one item per change.
    const next = await it.next();
    expect((next.value as ServiceInstance[]).map((i) => i.id)).toEqual(['a', 'b']);
    await it.return!();
    expect((await it.next()).done).toBe(true);
    const seen: string[][] = [];
    const loop = (async () => {
      for await (const list of svc.changes()) seen.push(list.map((i) => i.id));
    })();
    await svc.close(); // ends open iterators
    await loop;
    expect(seen.length).toBeGreaterThanOrEqual(0);
  });

  it('values that are not instances are skipped with an invalid event; the cache survives', async () => {
    const coord = await open();
    const svc = await coord.discovery('bad');
    const invalid: string[] = [];
    svc.on('invalid', (err) => invalid.push(err.key));
    await etcd.admin.put(`${etcd.prefix}services/bad/junk`).value('not json');
    await etcd.admin.put(`${etcd.prefix}services/bad/noaddr`).value('{"Metadata":{}}');
    await etcd.admin.put(`${etcd.prefix}services/bad/ok`).value('{"Addr":"ok:1"}');
    await waitFor(() => svc.get('ok'));
    expect(invalid).toEqual(['services/bad/junk', 'services/bad/noaddr']);
    expect(ids(svc)).toEqual(['ok']);
    await etcd.admin.put(`${etcd.prefix}services/bad/ok`).value('[1,2]');
    await waitFor(() => svc.size === 0, { message: 'ok became invalid' });
    const again = await coord.discovery('bad'); // snapshot path
    expect(again.size).toBe(0);
  });

  it('bad input is rejected before any request, naming the argument', async () => {
    const coord = await open();
    const reg = coord.registry('v');
    expect(() => coord.registry('')).toThrow(/`service`/);
    expect(() => coord.registry('a/b')).toThrow(/`service`/);
    await expect(coord.discovery('')).rejects.toThrow(/`service`/);
    await expect(reg.register({ address: 'host' })).rejects.toThrow(/`address`/);
    await expect(reg.register({ address: 'host:0' })).rejects.toThrow(/`address`/);
    await expect(reg.register({ address: 'host:99999' })).rejects.toThrow(/`address`/);
    await expect(reg.register({ address: 42 as never })).rejects.toThrow(/`address`/);
    await expect(reg.register({ address: 'h:1', metadata: { f: () => 1 } as never })).rejects.toThrow(
      /`metadata`/,
    );
    await expect(reg.register({ address: 'h:1', metadata: { n: 10n } as never })).rejects.toThrow(
      /`metadata`/,
    );
    await expect(reg.register({ address: 'h:1', metadata: { d: new Date() } as never })).rejects.toThrow(
      /`metadata`/,
    );
    await expect(reg.register({ address: 'h:1', metadata: { x: NaN } })).rejects.toThrow(/`metadata`/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(reg.register({ address: 'h:1', metadata: cyclic as never })).rejects.toThrow(/`metadata`/);
    await expect(reg.register({ address: 'h:1', metadata: { big: 'x'.repeat(1_600_000) } })).rejects.toThrow(
      /`metadata`.*1\.5 MiB/,
    );
    await expect(reg.register({ address: 'h:1', ttlSeconds: 1 })).rejects.toThrow(/`ttlSeconds`/);
    await expect(reg.register({ address: 'h:1', id: 'a/b' })).rejects.toThrow(/`id`/);
    await expect(reg.register({ address: 'h:1', id: '' })).rejects.toThrow(/`id`/);
    const ok = await reg.register({ address: '[::1]:8080', id: 'v6' });
    await expect(ok.update({ bad: undefined } as never)).rejects.toThrow(/`metadata`/);
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}services/v/`).keys()).toEqual([
      `${etcd.prefix}services/v/v6`,
    ]);
  });
});
