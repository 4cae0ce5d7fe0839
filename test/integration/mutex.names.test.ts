/**
 * Issue 16 f3: nested names are independent locks. A lock named `jobs` counts as holders only keys that
 * are exactly `jobs/<lease hex>` (etcd's layout, so `etcdctl lock jobs` still excludes), never the keys of
 * `jobs/nightly` or of a hex-looking child such as `jobs/abc`, whose keys sort inside `jobs/`'s owner range.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('nested lock names', () => {
  const etcd = useSharedEtcd('mutex-names');
  let a: Coordinator;
  let b: Coordinator;
  beforeAll(async () => {
    a = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    b = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('a process holding jobs/nightly (and hex-looking children) can lock jobs; holder() ignores them', async () => {
    const nested = await Promise.all(
      ['jobs/nightly', 'jobs/abc', 'jobs/0', 'jobs/f1/x'].map((n) => a.mutex(n).lock()),
    );
    try {
      expect(await a.mutex('jobs').holder()).toBeNull();
      const top = await a.mutex('jobs').lock({ timeoutMs: 2000 });
      expect(await b.mutex('jobs').holder()).toMatchObject({ fencingToken: top.fencingToken });
      expect(await b.mutex('jobs').tryLock()).toBeNull();
      // A waiter on `jobs` waits for `jobs`'s holder only, and is granted when it unlocks.
      const waiting = b.mutex('jobs').lock({ timeoutMs: 5000 });
      await new Promise((r) => setTimeout(r, 200));
      await top.unlock();
      const next = await waiting;
      expect(next.fencingToken).toBeGreaterThan(top.fencingToken);
      await next.unlock();
    } finally {
      await Promise.all(nested.map((l) => l.unlock()));
    }
  });

  it('semaphores and RW locks ignore nested names too', async () => {
    const nestedPermit = await a.semaphore('pool/abc', 1).acquire();
    const nestedWrite = await a.rwMutex('cat/x').writeLock();
    const nestedWrite2 = await a.rwMutex('cat/write').writeLock();
    try {
      const p = await b.semaphore('pool', 1).acquire({ timeoutMs: 2000 });
      const r = await b.rwMutex('cat').readLock({ timeoutMs: 2000 });
      await r.unlock();
      const w = await b.rwMutex('cat').writeLock({ timeoutMs: 2000 });
      await Promise.all([p.unlock(), w.unlock()]);
    } finally {
      await Promise.all([nestedPermit.unlock(), nestedWrite.unlock(), nestedWrite2.unlock()]);
    }
  });
});
