/** coord.kv TTL puts (one shared lease per TTL, revoked on close) and kv.lock (the Mutex with a holder value). */
import { describe, expect, it } from 'vitest';
import { connect, LockTimeoutError } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('kv: TTL keys and locks', () => {
  const etcd = useSharedEtcd('kv-ttl');
  const open = (ttlSeconds = 10) =>
    connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds });

  it('TTL puts share one lease per distinct TTL, and close() revokes it: the keys go at once', async () => {
    const coord = await open();
    const other = await open();
    try {
      const a = await coord.kv.put('eph/a', '1', { ttlSeconds: 5 });
      const b = await coord.kv.put('eph/b', '2', { ttlSeconds: 5 });
      const c = await coord.kv.put('eph/c', '3', { ttlSeconds: 7 });
      const d = await coord.kv.put('eph/d', '4', { ttlSeconds: 10 }); // the coordinator's TTL: its session
      expect(a.leaseId).not.toBe(0n);
      expect(b.leaseId).toBe(a.leaseId);
      expect(c.leaseId).not.toBe(a.leaseId);
      expect(d.leaseId).toBe(coord.session.leaseId);
      expect(await other.kv.get('eph/a')).toMatchObject({ leaseId: a.leaseId });
      const ttl = await etcd.admin.leaseClient.leaseTimeToLive({ ID: a.leaseId.toString() });
      expect(Number(ttl.grantedTTL)).toBe(5);
      // A plain put detaches the key from its lease (etcd's put semantics).
      await coord.kv.put('eph/plain', 'p', { ttlSeconds: 5 });
      expect((await coord.kv.put('eph/plain', 'q')).leaseId).toBe(0n);
      await coord.close();
      expect((await other.kv.list('eph/')).map((p) => p.key)).toEqual(['eph/plain']);
    } finally {
      await coord.close();
      await other.close();
    }
  });

  it('a TTL key outlives its process by about the TTL when the keepalive stops (lease expiry)', async () => {
    const coord = await open();
    const other = await open();
    try {
      const pair = await coord.kv.put('dies', 'x', { ttlSeconds: 2 });
      expect(pair.leaseId).not.toBe(0n);
      // A dead process: its keepalive stops without a revoke (the client is gone, not closed cleanly).
      coord.client.close();
      expect(await other.kv.exists('dies')).toBe(true);
      // Gone about the TTL later (2 s, plus etcd's expiry check): bounded generously.
      await waitFor(async () => !(await other.kv.exists('dies')), { timeoutMs: 8000 });
    } finally {
      await coord.close().catch(() => undefined);
      await other.close();
    }
  });

  it('a lost TTL lease takes its keys; they are not re-put, and the next TTL put gets a new lease', async () => {
    const coord = await open();
    try {
      const first = await coord.kv.put('lost/a', '1', { ttlSeconds: 4 });
      // The lease is gone behind the coordinator's back (as after a pause past its TTL).
      await etcd.admin.leaseClient.leaseRevoke({ ID: first.leaseId.toString() });
      expect(await coord.kv.exists('lost/a')).toBe(false);
      // etcd refuses the old lease ("not found"): nothing was written, so a new lease is granted and the put
      // repeated, within the same call.
      const next = await coord.kv.put('lost/b', '2', { ttlSeconds: 4 });
      expect(next.leaseId).not.toBe(0n);
      expect(next.leaseId).not.toBe(first.leaseId);
      expect(await coord.kv.exists('lost/a')).toBe(false);
      expect((await coord.kv.get('lost/b'))!.leaseId).toBe(next.leaseId);
      expect((await coord.kv.put('lost/c', '3', { ttlSeconds: 4 })).leaseId).toBe(next.leaseId);
    } finally {
      await coord.close();
    }
  });

  it('kv.lock is the Mutex on <key>/<lease hex>, whose holder key carries the value', async () => {
    const a = await open();
    const b = await open();
    try {
      const lock = await a.kv.lock('locks/job', { value: 'host-a' });
      expect(lock.key).toBe(`locks/job/${a.session.leaseId.toString(16)}`);
      const holder = await b.mutex('locks/job').holder();
      expect(holder).toMatchObject({ key: lock.key, fencingToken: lock.fencingToken });
      expect(holder!.value!.toString()).toBe('host-a');
      await expect(b.kv.lock('locks/job', { value: 'host-b', timeoutMs: 300 })).rejects.toBeInstanceOf(
        LockTimeoutError,
      );
      const waiting = b.kv.lock('locks/job', { value: 'host-b', ttlSeconds: 3 });
      await lock.unlock();
      const next = await waiting;
      expect(next.fencingToken).toBeGreaterThan(lock.fencingToken);
      expect((await a.mutex('locks/job').holder())!.value!.toString()).toBe('host-b');
      await next.unlock();
      expect(await a.mutex('locks/job').holder()).toBeNull();
    } finally {
      await a.close();
      await b.close();
    }
  });
});
