/**
 * Issue 25: `timeoutMs` covers the whole call, including the wait for the in-process turn behind another
 * caller on the same session and name (which never touches etcd).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('mutex timeout while waiting for the in-process turn', () => {
  const etcd = useSharedEtcd('mutex-timeout');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('a second lock() on the same session rejects LOCK_TIMEOUT after timeoutMs while the first holds', async () => {
    const m = coord.mutex('local');
    const held = await m.lock();
    try {
      const started = performance.now();
      await expect(m.lock({ timeoutMs: 500 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
      expect(performance.now() - started).toBeLessThan(1500); // timeoutMs + 1 s
      await expect(m.withLock(() => 'never', { timeoutMs: 300 })).rejects.toMatchObject({
        code: 'LOCK_TIMEOUT',
      });
    } finally {
      await held.unlock();
    }
    // The timed-out callers gave up their turns: the lock is free for the next caller at once.
    const next = await m.lock({ timeoutMs: 2000 });
    await next.unlock();
  });

  it('an abort while waiting for the in-process turn rejects ABORTED', async () => {
    const m = coord.mutex('local-abort');
    const held = await m.lock();
    try {
      const ac = new AbortController();
      const p = m.lock({ signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    } finally {
      await held.unlock();
    }
  });
});

describe('rwMutex and semaphore: timeoutMs while another caller of this process holds', () => {
  const etcd = useSharedEtcd('rw-sem-timeout');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('a write lock behind this process’s reader, a reader behind its writer, a permit behind its permit: LOCK_TIMEOUT', async () => {
    const rw = coord.rwMutex('rw');
    const r = await rw.readLock();
    await expect(rw.writeLock({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    await r.unlock();
    const w = await rw.writeLock();
    await expect(rw.readLock({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    await w.unlock();
    const sem = coord.semaphore('sem', 1);
    const p = await sem.acquire();
    await expect(sem.acquire({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    await p.release();
    // Nothing left behind by the timed-out callers.
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}rw/`).keys()).toEqual([]);
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}sem/`).keys()).toEqual([]);
  });
});
