/**
 * RW downgrade against a faulty link (issue 25): a downgrade applied whose answer was lost is repeated and
 * adopted (the caller gets its read lock, and the lock was never free); a downgrade etcd never confirms
 * rejects UNAVAILABLE within its deadline and releases the write lock, so the caller holds nothing and
 * another writer gets in once etcd is reachable.
 */
import { describe, expect, it } from 'vitest';
import { connect, UnavailableError } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('rwMutex downgrade on a faulty link', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  async function setup(label: string) {
    const ns = uniquePrefix(label);
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const holder = await connect({
      endpoints: [proxy.endpoint],
      namespace: ns,
      ttlSeconds: 10,
      requestTimeoutMs: 1000,
    });
    const other = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 5 });
    const admin = etcd.cluster.client();
    const keys = async () =>
      (await admin.getAll().prefix(`${ns}rw/`).keys()).map((k) => k.slice(ns.length).replace(/_.*/, ''));
    const close = async () => {
      proxy.pass();
      admin.close();
      await Promise.allSettled([holder.close(), other.close()]);
      await proxy.close();
    };
    return { ns, proxy, holder, other, keys, close };
  }

  it('an applied downgrade whose answer was lost is adopted on the retry: a read lock, never free', async () => {
    const { proxy, holder, other, keys, close } = await setup('rw-down-lost');
    try {
      const w = await holder.rwMutex('rw').writeLock();
      proxy.dropReplies();
      const down = w.downgrade({ timeoutMs: 10_000 });
      await waitFor(async () => !(await keys()).some((k) => k.startsWith('rw/write')), {
        message: 'the downgrade applied',
      });
      expect(await other.rwMutex('rw').tryWriteLock()).toBeNull(); // the companion still holds the lock
      proxy.pass();
      const r = await down;
      expect(r.held).toBe(true);
      expect(r.fencingToken).toBe(w.fencingToken);
      expect(await other.rwMutex('rw').tryWriteLock()).toBeNull();
      const reader = await other.rwMutex('rw').tryReadLock();
      expect(reader).not.toBeNull();
      await reader!.unlock();
      await r.unlock();
      expect(await keys()).toEqual([]);
    } finally {
      await close();
    }
  }, 60_000);

  it('an unconfirmed downgrade rejects UNAVAILABLE in time and releases the write lock', async () => {
    const { proxy, holder, other, keys, close } = await setup('rw-down-unavailable');
    try {
      const w = await holder.rwMutex('rw').writeLock();
      proxy.blackhole();
      const t0 = performance.now();
      const err = await w.downgrade({ timeoutMs: 1500 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect(performance.now() - t0).toBeLessThan(1500 + 1000);
      expect(w.held).toBe(false);
      proxy.pass();
      // The release goes on in the background: both keys go, and another writer gets in.
      const next = await other.rwMutex('rw').writeLock({ timeoutMs: 8000 });
      expect(holder.session.done).toBe(false); // released by the holder, not by its lease
      await next.unlock();
      await waitFor(async () => (await keys()).length === 0, { message: 'no key left' });
    } finally {
      await close();
    }
  }, 60_000);
});
