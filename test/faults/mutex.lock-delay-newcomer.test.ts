/**
 * Lock-delay for a newcomer: a caller that arrives after the holder's lease was revoked, with nobody
 * queued, waits `lockDelayMs` before it is granted (the held marker names the lost holder); after a clean
 * unlock it is granted at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

const DELAY_MS = 1500;

describe('mutex lock-delay: a newcomer after the holder was lost', () => {
  const etcd = useSharedEtcd('mutex-newcomer');
  let holder: Coordinator;
  let newcomer: Coordinator;
  beforeAll(async () => {
    holder = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    newcomer = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await Promise.all([holder.close(), newcomer.close()]);
  });

  it('holder lease revoked, nobody queued → the newcomer is granted no sooner than lockDelayMs after', async () => {
    const held = await holder.mutex('revoked', { lockDelayMs: DELAY_MS }).lock();
    await etcd.admin.leaseClient.leaseRevoke({ ID: held.leaseId.toString() });
    const t0 = performance.now();
    const lock = await newcomer.mutex('revoked', { lockDelayMs: DELAY_MS }).lock({ timeoutMs: 10_000 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(DELAY_MS);
    expect(lock.held).toBe(true);
    await lock.unlock();
    await held.unlock().catch(() => undefined);
  });

  it('a tryLock() holder is recorded too: a newcomer after its lease was revoked waits lockDelayMs', async () => {
    const held = await holder.mutex('tried', { lockDelayMs: DELAY_MS }).tryLock();
    expect(held).not.toBeNull();
    await etcd.admin.leaseClient.leaseRevoke({ ID: held!.leaseId.toString() });
    const t0 = performance.now();
    const lock = await newcomer.mutex('tried', { lockDelayMs: DELAY_MS }).lock({ timeoutMs: 10_000 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(DELAY_MS);
    await lock.unlock();
  });

  it('clean unlock → the newcomer is granted at once, and so is the next one', async () => {
    const m = newcomer.mutex('clean', { lockDelayMs: DELAY_MS });
    const first = await holder.mutex('clean', { lockDelayMs: DELAY_MS }).lock();
    await first.unlock();
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now();
      const lock = await m.lock({ timeoutMs: 10_000 });
      expect(performance.now() - t0).toBeLessThan(DELAY_MS);
      await lock.unlock();
    }
    const keys = await etcd.admin.getAll().prefix(`${etcd.prefix}clean`).keys();
    expect(keys.filter((k) => k.includes('\0held'))).toEqual([]);
  });

  it('without lockDelayMs nothing is written besides the lock key', async () => {
    const lock = await newcomer.mutex('plain').lock();
    await lock.unlock();
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}plain`).keys()).toEqual([]);
  });
});
