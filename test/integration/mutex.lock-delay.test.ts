/**
 * Issue 14 f1 (library part): lock-delay. A waiter that becomes first because the holder's lease was
 * revoked (or expired) waits `lockDelayMs` after the deletion before it is granted; a clean unlock hands
 * over at once. The waiter tells them apart by the release marker the clean unlock writes in its txn
 * (every user of the name sets lockDelayMs, as the docs require).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

const DELAY_MS = 1500;

describe('mutex lock-delay', () => {
  const etcd = useSharedEtcd('mutex-lock-delay');
  let holder: Coordinator;
  let waiter: Coordinator;
  beforeAll(async () => {
    holder = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    waiter = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await Promise.all([holder.close(), waiter.close()]);
  });

  const queued = (name: string, n: number) =>
    waitFor(async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).keys()).length === n, {
      message: `${n} keys queued`,
    });

  it('holder lease revoked → the waiter is granted no sooner than lockDelayMs after the deletion', async () => {
    const held = await holder.mutex('revoked', { lockDelayMs: DELAY_MS }).lock();
    const p = waiter.mutex('revoked', { lockDelayMs: DELAY_MS }).lock({ timeoutMs: 10_000 });
    await queued('revoked', 2);
    const revokedAt = performance.now(); // the key is deleted after this instant
    await etcd.admin.leaseClient.leaseRevoke({ ID: held.leaseId.toString() });
    const lock = await p;
    expect(performance.now() - revokedAt).toBeGreaterThanOrEqual(DELAY_MS);
    expect(lock.held).toBe(true);
    await lock.unlock();
    await held.unlock();
  });

  it('clean unlock → granted at once, even with a long lockDelayMs', async () => {
    const held = await holder.mutex('clean', { lockDelayMs: DELAY_MS }).lock();
    const p = waiter.mutex('clean', { lockDelayMs: 30_000 }).lock({ timeoutMs: 3000 });
    await queued('clean', 2);
    await held.unlock();
    const lock = await p; // a delay would make this LOCK_TIMEOUT
    await lock.unlock();
  });

  it('the delay honours timeoutMs and leaves no waiter key', async () => {
    const held = await holder.mutex('timeout', { lockDelayMs: DELAY_MS }).lock();
    const p = waiter.mutex('timeout', { lockDelayMs: 30_000 }).lock({ timeoutMs: 1500 });
    await queued('timeout', 2);
    await etcd.admin.leaseClient.leaseRevoke({ ID: held.leaseId.toString() });
    await expect(p).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}timeout/`).keys()).toEqual([]);
    await held.unlock();
  });

  it('a key deleted by someone else (etcdctl, an operator) counts as an expiry', async () => {
    const held = await holder.mutex('foreign', { lockDelayMs: DELAY_MS }).lock();
    const p = waiter.mutex('foreign', { lockDelayMs: DELAY_MS }).lock({ timeoutMs: 10_000 });
    await queued('foreign', 2);
    const deletedAt = performance.now();
    await etcd.admin.delete().key(`${etcd.prefix}${held.key}`);
    const lock = await p;
    expect(performance.now() - deletedAt).toBeGreaterThanOrEqual(DELAY_MS);
    await lock.unlock();
    await held.unlock();
  });

  it('an unlock by a mutex without lockDelayMs writes no marker, so it counts as an expiry', async () => {
    const held = await holder.mutex('unmarked').lock();
    const p = waiter.mutex('unmarked', { lockDelayMs: DELAY_MS }).lock({ timeoutMs: 10_000 });
    await queued('unmarked', 2);
    const unlockedAt = performance.now();
    await held.unlock();
    const lock = await p;
    expect(performance.now() - unlockedAt).toBeGreaterThanOrEqual(DELAY_MS);
    await lock.unlock();
  });

  it('rejects a bad lockDelayMs before any request', () => {
    expect(() => waiter.mutex('x', { lockDelayMs: -1 })).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('`lockDelayMs`'),
      }),
    );
  });
});
