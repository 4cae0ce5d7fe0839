/**
 * Mutex on the shared etcd: FIFO order, mutual exclusion under 20 clients, fencing, guarded writes,
 * cleanup on abort/timeout, session loss while queued, and input validation before any request.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connect, type Coordinator, type Lock } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('mutex', () => {
  const etcd = useSharedEtcd('mutex-basic');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
  });

  async function keysUnder(name: string): Promise<string[]> {
    return etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).keys();
  }

  it('locks and unlocks uncontended, with the etcd key layout <name>/<leaseId hex>', async () => {
    const m = coord.mutex('basic');
    const lock = await m.lock();
    expect(lock.key).toBe(`basic/${coord.session.leaseId.toString(16)}`);
    expect(lock.fencingToken).toBeGreaterThan(0n);
    expect(await m.holder()).toEqual({
      key: lock.key,
      fencingToken: lock.fencingToken,
      leaseId: coord.session.leaseId,
    });
    await lock.unlock();
    await lock.unlock(); // idempotent
    expect(lock.signal.aborted).toBe(true);
    expect(await m.holder()).toBeNull();
    expect(await keysUnder('basic')).toEqual([]);
  });

  it('grants N waiters in create-revision order (FIFO)', async () => {
    const coords = await Promise.all(
      Array.from({ length: 5 }, () =>
        connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 }),
      ),
    );
    try {
      const first = await coords[0]!.mutex('fifo').lock();
      const order: number[] = [];
      const waits: Promise<void>[] = [];
      for (let i = 1; i < coords.length; i++) {
        waits.push(
          coords[i]!.mutex('fifo')
            .lock()
            .then(async (l) => {
              order.push(i);
              await sleep(10);
              await l.unlock();
            }),
        );
        // Enqueue strictly one after another so the expected order is the enqueue order.
        await waitFor(async () => (await keysUnder('fifo')).length === i + 1, {
          message: `waiter ${i} enqueued`,
        });
      }
      await first.unlock();
      await Promise.all(waits);
      expect(order).toEqual([1, 2, 3, 4]);
    } finally {
      await Promise.all(coords.map((c) => c.close()));
    }
  });

  it('keeps mutual exclusion for 20 clients (separate sessions) doing 50 cycles each; tokens increase', async () => {
    const clients = 20;
    const cycles = 50;
    const coords = await Promise.all(
      Array.from({ length: clients }, () =>
        connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 }),
      ),
    );
    try {
      let inside = 0;
      let maxInside = 0;
      const tokens: bigint[] = [];
      await Promise.all(
        coords.map(async (c) => {
          const m = c.mutex('mx');
          for (let i = 0; i < cycles; i++) {
            await m.withLock(async (lock) => {
              inside++;
              maxInside = Math.max(maxInside, inside);
              tokens.push(lock.fencingToken);
              await sleep(0);
              inside--;
            });
          }
        }),
      );
      expect(maxInside).toBe(1);
      expect(tokens).toHaveLength(clients * cycles);
      for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
      expect(await keysUnder('mx')).toEqual([]);
    } finally {
      await Promise.all(coords.map((c) => c.close()));
    }
  }, 120_000);

  it('queues concurrent lock() calls on one session and name in process (one etcd key)', async () => {
    const m = coord.mutex('local');
    const a = await m.lock();
    const bp = m.lock();
    await sleep(200);
    expect(await keysUnder('local')).toHaveLength(1);
    expect(await m.tryLock()).toBeNull();
    await a.unlock();
    const b = await bp;
    expect(b.fencingToken).toBeGreaterThan(a.fencingToken);
    await b.unlock();
    const c = await m.tryLock();
    expect(c).not.toBeNull();
    await c!.unlock();
  });

  it('a guarded write from a holder that lost the lock fails once the next holder has it', async () => {
    const other = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    try {
      const m = coord.mutex('fence');
      const old = await m.lock();
      // Someone deletes the holder's key (an operator, or the lease expiring): the next holder gets in.
      await etcd.admin.delete().key(`${etcd.prefix}${old.key}`);
      await waitFor(() => old.signal.aborted, { message: 'old holder signal aborted' });
      expect((old.signal.reason as Error & { code: string }).code).toBe('LOCK_LOST');
      const next = await other.mutex('fence').lock();
      expect(next.fencingToken).toBeGreaterThan(old.fencingToken);
      const stale = await coord.client
        .if(...old.guard())
        .then(coord.client.put(`${etcd.prefix}fenced`).value('old'))
        .commit();
      expect(stale.succeeded).toBe(false);
      const fresh = await other.client
        .if(...next.guard())
        .then(other.client.put(`${etcd.prefix}fenced`).value('new'))
        .commit();
      expect(fresh.succeeded).toBe(true);
      await old.unlock(); // must not delete the new holder's key
      expect(await other.mutex('fence').holder()).toMatchObject({ fencingToken: next.fencingToken });
      await next.unlock();
    } finally {
      await other.close();
    }
  });

  it('abort and timeout while waiting leave no key behind', async () => {
    const other = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    try {
      const held = await coord.mutex('abort').lock();
      await expect(other.mutex('abort').lock({ timeoutMs: 300 })).rejects.toMatchObject({
        code: 'LOCK_TIMEOUT',
      });
      const ac = new AbortController();
      const p = other.mutex('abort').lock({ signal: ac.signal });
      await waitFor(async () => (await keysUnder('abort')).length === 2, { message: 'waiter enqueued' });
      ac.abort();
      await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
      expect(await keysUnder('abort')).toEqual([held.key].map((k) => `${etcd.prefix}${k}`));
      await held.unlock();
      expect(await keysUnder('abort')).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('a waiter whose lease is revoked while queued rejects with SESSION_EXPIRED and never resolves', async () => {
    const holderCoord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    const waiterCoord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    try {
      const held = await holderCoord.mutex('revoke').lock();
      let resolved: Lock | undefined;
      const p = waiterCoord.mutex('revoke').lock();
      p.then(
        (l) => (resolved = l),
        () => undefined,
      );
      await waitFor(async () => (await keysUnder('revoke')).length === 2, { message: 'waiter enqueued' });
      await etcd.admin.leaseClient.leaseRevoke({ ID: waiterCoord.session.leaseId.toString() });
      await held.unlock(); // the lock is free now: a buggy waiter would take it
      await expect(p).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
      expect(resolved).toBeUndefined();
      expect(await keysUnder('revoke')).toEqual([]);
    } finally {
      await holderCoord.close();
      await waiterCoord.close();
    }
  });

  it('a waiter whose key is deleted in the same revision as its predecessor is never told it holds the lock', async () => {
    const other = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    try {
      const held = await coord.mutex('sameRev').lock();
      let resolved = false;
      const p = other.mutex('sameRev').lock();
      p.then(
        () => (resolved = true),
        () => undefined,
      );
      await waitFor(async () => (await keysUnder('sameRev')).length === 2, { message: 'waiter enqueued' });
      // One delete of the whole prefix: the predecessor and the waiter's own key go at one revision.
      await etcd.admin.delete().prefix(`${etcd.prefix}sameRev/`);
      await expect(p).rejects.toMatchObject({ code: 'LOCK_LOST' });
      expect(resolved).toBe(false);
      await waitFor(() => held.signal.aborted, { message: 'holder signal aborted' });
      await held.unlock();
    } finally {
      await other.close();
    }
  });

  it('rejects bad input before any request', async () => {
    const kv = coord.client.kv;
    const spies = [
      vi.spyOn(kv, 'txn'),
      vi.spyOn(kv, 'range'),
      vi.spyOn(kv, 'put'),
      vi.spyOn(kv, 'deleteRange'),
    ];
    try {
      expect(() => coord.mutex('')).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('`name`') }),
      );
      expect(() => coord.mutex('a\0b')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      expect(() => coord.semaphore('s', 0)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('`permits`') }),
      );
      expect(() => coord.semaphore('s', 1.5)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      expect(() => coord.rwMutex('')).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      await expect(coord.mutex('x').lock({ timeoutMs: -1 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('`timeoutMs`'),
      });
      await expect(coord.semaphore('s', 2).acquire({ timeoutMs: -5 })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      await expect(coord.rwMutex('r').writeLock({ timeoutMs: Number.NaN })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });
});
