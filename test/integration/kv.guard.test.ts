/**
 * Issue 24 (B): `kv.put(key, value, { guard })` and `kv.delete(key, { guard })` write in one txn only while
 * the guard holds. A Lock or Term guard holds while the holder's key exists with its create revision equal
 * to the fencing token (the comparator of `lock.guard()`); a bigint guard holds while the key's mod
 * revision equals it (`0n`: the key does not exist). A failed guard writes nothing: LockLostError for a
 * Lock/Term, ConflictError for a revision. A bad guard is a TypeError naming `guard`, before any request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConflictError,
  connect,
  LockLostError,
  type Coordinator,
  type KeyConflictError,
} from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('kv: guarded put and delete', () => {
  const etcd = useSharedEtcd('kv-guard');
  let coord: Coordinator;
  const raw = (key: string) => etcd.admin.get(`${etcd.prefix}${key}`).string();

  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('a held lock: the put and the delete are applied', async () => {
    const lock = await coord.mutex('g/held').lock();
    try {
      const pair = await coord.kv.put('g/out', 'v1', { guard: lock });
      expect(pair).toMatchObject({ key: 'g/out', version: 1n });
      expect(pair.value.toString()).toBe('v1');
      expect(await coord.kv.get('g/out')).toEqual(pair);
      expect(await coord.kv.delete('g/out', { guard: lock })).toBe(true);
      expect(await coord.kv.delete('g/out', { guard: lock })).toBe(false);
      expect(await raw('g/out')).toBeNull();
      // With a TTL too: the key goes on the shared lease of that TTL.
      const ttl = await coord.kv.put('g/eph', 'x', { guard: lock, ttlSeconds: 5 });
      expect(ttl.leaseId).not.toBe(0n);
    } finally {
      await lock.unlock();
    }
  });

  it('a term of an election: applied while it is the leader, LockLostError once resigned', async () => {
    const term = await coord.election('g/lead').campaign('me');
    await coord.kv.put('g/plan', 'p1', { guard: term });
    expect(await raw('g/plan')).toBe('p1');
    await term.resign();
    const err = await coord.kv.put('g/plan', 'p2', { guard: term }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockLostError);
    expect(await raw('g/plan')).toBe('p1');
    expect(await coord.kv.delete('g/plan', { guard: term }).catch((e: unknown) => e)).toBeInstanceOf(
      LockLostError,
    );
    expect(await raw('g/plan')).toBe('p1');
  });

  it('an unlocked lock: LockLostError, nothing written or deleted (a newer holder on the same session too)', async () => {
    const m = coord.mutex('g/unlocked');
    const old = await m.lock();
    await coord.kv.put('g/res', 'old', { guard: old });
    await old.unlock();
    const put = await coord.kv.put('g/res', 'late', { guard: old }).catch((e: unknown) => e);
    expect(put).toBeInstanceOf(LockLostError);
    expect((put as Error).message).toMatch(/guard/);
    expect(await raw('g/res')).toBe('old');
    // The same session takes the lock again: the same key, a new create revision. The old lock stays lost.
    const fresh = await m.lock();
    try {
      expect(fresh.key).toBe(old.key);
      expect(await coord.kv.put('g/res', 'late', { guard: old }).catch((e: unknown) => e)).toBeInstanceOf(
        LockLostError,
      );
      expect(await coord.kv.delete('g/res', { guard: old }).catch((e: unknown) => e)).toBeInstanceOf(
        LockLostError,
      );
      expect(await raw('g/res')).toBe('old');
      await coord.kv.put('g/res', 'new', { guard: fresh });
      expect(await raw('g/res')).toBe('new');
    } finally {
      await fresh.unlock();
    }
  });

  it("the lock's lease revoked: LockLostError, nothing written", async () => {
    const other = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 });
    try {
      const lock = await other.mutex('g/revoked').lock();
      await coord.kv.put('g/fenced', 'before', { guard: lock });
      await etcd.admin.leaseClient.leaseRevoke({ ID: lock.leaseId.toString() });
      // The guard is checked by etcd in the txn, whatever this process has noticed yet.
      const err = await coord.kv.put('g/fenced', 'after', { guard: lock }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LockLostError);
      expect(await raw('g/fenced')).toBe('before');
      expect(await coord.kv.delete('g/fenced', { guard: lock }).catch((e: unknown) => e)).toBeInstanceOf(
        LockLostError,
      );
      expect(await raw('g/fenced')).toBe('before');
    } finally {
      await other.close();
    }
  });

  it("a revision guard: applied while the key's mod revision is it (0n: absent), else ConflictError", async () => {
    const created = await coord.kv.put('g/rev', 'a', { guard: 0n });
    expect(created.version).toBe(1n);
    const stale = created.lastIndex;
    const next = await coord.kv.put('g/rev', 'b', { guard: stale });
    expect(next.version).toBe(2n);

    const err = await coord.kv.put('g/rev', 'c', { guard: stale }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect((err as KeyConflictError).current).toMatchObject({ lastIndex: next.lastIndex });
    expect(await coord.kv.put('g/rev', 'c', { guard: 0n }).catch((e: unknown) => e)).toBeInstanceOf(
      ConflictError,
    );
    expect(await raw('g/rev')).toBe('b');

    expect(await coord.kv.delete('g/rev', { guard: stale }).catch((e: unknown) => e)).toBeInstanceOf(
      ConflictError,
    );
    expect(await raw('g/rev')).toBe('b');
    expect(await coord.kv.delete('g/rev', { guard: next.lastIndex })).toBe(true);
    expect(await raw('g/rev')).toBeNull();
    // Absent and guarded on 0n: the guard holds, nothing to delete.
    expect(await coord.kv.delete('g/rev', { guard: 0n })).toBe(false);
  });

  it('a bad guard is a TypeError naming `guard`, before any request; nothing written', async () => {
    const bad: unknown[] = [5, '5', null, {}, -1n, { fencingToken: 1n }, new Date()];
    for (const guard of bad) {
      const put = await coord.kv
        .put('g/bad', 'x', { guard } as unknown as { guard: bigint })
        .catch((e: unknown) => e);
      expect(put, String(guard)).toBeInstanceOf(TypeError);
      expect((put as Error).message).toContain('`guard`');
      const del = await coord.kv
        .delete('g/bad', { guard } as unknown as { guard: bigint })
        .catch((e: unknown) => e);
      expect(del).toBeInstanceOf(TypeError);
      expect((del as Error).message).toContain('`guard`');
    }
    // atomicPut's guard is its `previous`: a second one is refused, not silently ignored.
    const lock = await coord.mutex('g/bad-lock').lock();
    try {
      const atomic = await coord.kv.atomicPut('g/bad', 'x', null, { guard: lock }).catch((e: unknown) => e);
      expect(atomic).toBeInstanceOf(TypeError);
      expect((atomic as Error).message).toContain('`guard`');
    } finally {
      await lock.unlock();
    }
    expect(await raw('g/bad')).toBeNull();
  });
});
