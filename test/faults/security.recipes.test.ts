import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, once, runAsLeader, type Coordinator } from '../../src/index.js';
import { waitFor } from '../support/shared.js';
import { useSecureEtcd } from '../support/secure-etcd.js';

/**
 * Acceptance 1: every recipe's basic scenario over mutual TLS with auth, as the prefix-limited user
 * `app1` (role: read-write on `app1/` only) inside the namespace `app1/`; `a` logs in with a password,
 * `b` with its client certificate (CN = app1). Meanwhile `app2` runs the same names in `app2/`: two
 * apps on one cluster never see each other.
 */
describe('security: every recipe as the prefix-limited user, over TLS with auth', () => {
  const secure = useSecureEtcd({ tls: true, clientCertAuth: true, auth: true });
  let a: Coordinator;
  let b: Coordinator;
  let other: Coordinator;

  beforeAll(async () => {
    const { etcd } = secure;
    a = await connect({
      endpoints: [etcd.url],
      namespace: 'app1/',
      tls: etcd.tlsFor('guest'),
      auth: { username: 'app1', password: etcd.passwords.app1 },
      ttlSeconds: 2,
    });
    b = await connect({ endpoints: [etcd.url], namespace: 'app1/', tls: etcd.tlsFor('app1'), ttlSeconds: 2 });
    other = await connect({
      endpoints: [etcd.url],
      namespace: 'app2/',
      tls: etcd.tlsFor('guest'),
      auth: { username: 'app2', password: etcd.passwords.app2 },
      ttlSeconds: 2,
    });
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), other?.close()]);
  });

  it('mutex, rwMutex and semaphore: exclusion inside app1/, no interference with app2/', async () => {
    const lock = await a.mutex('jobs/nightly').lock({ timeoutMs: 10_000 });
    expect(await b.mutex('jobs/nightly').tryLock()).toBeNull();
    const elsewhere = await other.mutex('jobs/nightly').tryLock(); // same name, other app: free
    expect(elsewhere).not.toBeNull();
    const waiting = b.mutex('jobs/nightly').lock({ timeoutMs: 10_000 });
    await lock.unlock();
    const next = await waiting;
    expect(next.fencingToken).toBeGreaterThan(lock.fencingToken);
    await next.unlock();
    await elsewhere?.unlock();

    const r1 = await a.rwMutex('rw').readLock({ timeoutMs: 10_000 });
    const r2 = await b.rwMutex('rw').readLock({ timeoutMs: 10_000 });
    expect(await a.rwMutex('rw').tryWriteLock()).toBeNull();
    await Promise.all([r1.unlock(), r2.unlock()]);
    const p1 = await a.semaphore('sem', 2).acquire({ timeoutMs: 10_000 });
    const p2 = await b.semaphore('sem', 2).acquire({ timeoutMs: 10_000 });
    expect(await a.semaphore('sem', 2).tryAcquire()).toBeNull();
    await Promise.all([p1.unlock(), p2.unlock()]);
  });

  it('election, once and runAsLeader: one leader, one run per slot', async () => {
    const term = await a.election('svc/scheduler').campaign('a', { timeoutMs: 10_000 });
    expect((await b.election('svc/scheduler').leader())?.value.toString()).toBe('a');
    expect(await other.election('svc/scheduler').leader()).toBeNull();
    const second = b.election('svc/scheduler').campaign('b', { timeoutMs: 10_000 });
    await term.resign();
    const bTerm = await second;
    expect((await a.election('svc/scheduler').leader())?.value.toString()).toBe('b');
    await bTerm.resign();

    const first = await once(a, 'nightly-report', { slot: '2026-11-21' }, () => Promise.resolve('done'));
    expect(first.status).toBe('ran');
    const again = await once(b, 'nightly-report', { slot: '2026-11-21' }, () => Promise.resolve('twice'));
    expect(again.status).toBe('skipped');
    expect(
      await runAsLeader(b, 'cron/compactor', (signal) => Promise.resolve(signal.aborted ? 'lost' : 'led')),
    ).toBe('led');
  });

  it('registry and discovery: register, discover, deregister', async () => {
    const svc = await b.discovery('payments');
    const elsewhere = await other.discovery('payments');
    try {
      const reg = await a.registry('payments').register({ id: 'p1', address: '10.0.0.7:8443' });
      await waitFor(() => svc.get('p1')?.address === '10.0.0.7:8443', { message: 'b discovers p1' });
      await reg.deregister();
      await waitFor(() => svc.size === 0, { message: 'b sees p1 go' });
      expect(elsewhere.size).toBe(0);
    } finally {
      await Promise.all([svc.close(), elsewhere.close()]);
    }
  });

  it('watched config: a write by one user is seen by the other', async () => {
    const cfg = await a.config('cfg/');
    const writer = await b.config('cfg/');
    try {
      await writer.set('db/url', 'postgres://db-1');
      await waitFor(() => (cfg.value as { db?: { url?: string } }).db?.url === 'postgres://db-1', {
        message: 'a sees the update',
      });
    } finally {
      await Promise.all([cfg.close(), writer.close()]);
    }
  });

  it('queue: push, pop, ack', async () => {
    const producer = a.queue<{ to: string }>('emails');
    const consumer = b.queue<{ to: string }>('emails');
    try {
      await producer.push({ to: 'x@example.com' });
      const job = await consumer.pop({ timeoutMs: 10_000 });
      expect(job.payload).toEqual({ to: 'x@example.com' });
      await job.ack();
      expect(await producer.size()).toBe(0);
      expect(await other.queue('emails').size()).toBe(0);
    } finally {
      await Promise.all([producer.close(), consumer.close()]);
    }
  });

  it('counters, barriers and range', async () => {
    expect(await a.counter('ids/order').increment()).toBe(1n);
    expect(await b.counter('ids/order').increment()).toBe(2n);
    expect(await other.counter('ids/order').increment()).toBe(1n);
    expect(await a.atomicCounter('stock').add(5)).toBe(5n);
    expect(await b.atomicCounter('stock').compareAndSet(5n, 7n)).toBe(true);

    expect(await a.barrier('gate').hold()).toBe(true);
    const passed = b.barrier('gate').wait({ timeoutMs: 10_000 });
    await a.barrier('gate').release();
    await passed;
    const enterA = a.doubleBarrier('phase', 2).enter({ timeoutMs: 10_000 });
    const enterB = b.doubleBarrier('phase', 2).enter({ timeoutMs: 10_000 });
    await Promise.all([enterA, enterB]);

    const keys: string[] = [];
    for await (const kv of b.range('ids/')) keys.push(kv.key.toString());
    expect(keys).toEqual(['ids/order']);
    // Everything app1 wrote is under app1/, as root sees it.
    const all = await secure.etcd.admin().getAll().prefix('').keys();
    expect(all.length).toBeGreaterThan(0);
    for (const key of all) expect(key).toMatch(/^app[12]\//);
  });
});
