/**
 * Issue 25: `mutex(name, { reentrant: true })` — inside `withLock(fn)`, a nested lock() of the same mutex
 * gets a counted handle; the key goes when the last handle unlocks; a loss aborts every handle; a caller
 * from outside the scope (or after it ended) waits its turn; a bare lock() opens no scope.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type Lock } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('reentrant mutex', () => {
  const etcd = useSharedEtcd('mutex-reentrant');
  let coord: Coordinator;
  let other: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    other = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
  });
  afterAll(async () => {
    await coord.close();
    await other.close();
  });
  const keys = async (name: string) =>
    (await etcd.admin.getAll().prefix(`${etcd.prefix}${name}/`).keys()).length;

  it('a nested lock() inside withLock is granted at once, shares the token, and the key goes with the last unlock', async () => {
    const m = coord.mutex('nested', { reentrant: true });
    await m.withLock(async (outer) => {
      const inner = await m.lock({ timeoutMs: 1000 }); // would time out waiting for itself if not reentrant
      expect(inner.fencingToken).toBe(outer.fencingToken);
      expect(await keys('nested')).toBe(1);
      await inner.unlock();
      expect(inner.held).toBe(false);
      expect(outer.held).toBe(true);
      expect(await keys('nested')).toBe(1); // the outer handle is left: still locked
      expect(await other.mutex('nested').tryLock()).toBeNull();
    });
    expect(await keys('nested')).toBe(0);
  });

  it('unlock order does not matter: the outer handle first, the key stays until the inner one unlocks', async () => {
    const m = coord.mutex('order', { reentrant: true });
    let inner!: Lock;
    await m.withLock(async () => {
      inner = (await m.tryLock())!;
      expect(inner.held).toBe(true);
    });
    expect(await keys('order')).toBe(1); // withLock unlocked its handle; the nested one still holds
    await inner.unlock();
    expect(await keys('order')).toBe(0);
  });

  it('withLock nests: fn and what it starts re-enter; the lock is free afterwards', async () => {
    const m = coord.mutex('with', { reentrant: true });
    const tokens = await m.withLock(async (a) => {
      const b = await m.withLock((l) => l.fencingToken, { timeoutMs: 1000 });
      const c = await new Promise<bigint>((resolve, reject) =>
        setTimeout(() => m.withLock((l) => l.fencingToken).then(resolve, reject), 10),
      );
      return [a.fencingToken, b, c];
    });
    expect(new Set(tokens).size).toBe(1);
    expect(await keys('with')).toBe(0);
  });

  it('a caller from outside the scope is not reentrant: it waits for the holder', async () => {
    const m = coord.mutex('unrelated', { reentrant: true });
    let release!: () => void;
    const holding = new Promise<void>((r) => (release = r));
    let held!: Lock;
    const holder = m.withLock(async (l) => {
      held = l;
      await holding;
    });
    await waitFor(async () => (await keys('unrelated')) === 1, { message: 'holder granted' });
    // This test's own context did not start inside withLock's fn: it queues behind the holder.
    await expect(m.lock({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    const waiting = m.lock();
    release();
    await holder;
    const mine = await waiting;
    expect(mine.fencingToken).toBeGreaterThan(held.fencingToken);
    await mine.unlock();
  });

  it('a bare lock() opens no scope: a second lock() in the same function waits like any mutex', async () => {
    const m = coord.mutex('bare', { reentrant: true });
    const first = await m.lock();
    await expect(m.lock({ timeoutMs: 300 })).rejects.toMatchObject({ code: 'LOCK_TIMEOUT' });
    await first.unlock();
    expect(await keys('bare')).toBe(0);
  });

  it('a timer started inside fn that locks after withLock returned waits its turn (the scope ended)', async () => {
    const m = coord.mutex('late', { reentrant: true });
    let late!: Promise<Lock>;
    let go!: () => void;
    const started = new Promise<void>((r) => (go = r));
    await m.withLock(() => {
      setTimeout(() => {
        late = m.lock();
        go();
      }, 50);
    });
    const blocker = await other.mutex('late').lock();
    await started;
    await expect(Promise.race([late, new Promise((r) => setTimeout(() => r('waiting'), 300))])).resolves.toBe(
      'waiting',
    );
    await blocker.unlock();
    const mine = await late;
    expect(mine.fencingToken).toBeGreaterThan(blocker.fencingToken);
    await mine.unlock();
  });

  it('a loss aborts every handle, and a nested lock() after it rejects with the loss', async () => {
    const m = coord.mutex('lost', { reentrant: true });
    await m
      .withLock(async (outer) => {
        const inner = await m.lock();
        await etcd.admin.delete().key(`${etcd.prefix}${outer.key}`);
        await waitFor(() => !outer.held && !inner.held, { message: 'both handles see the loss' });
        expect(inner.signal.reason).toMatchObject({ code: 'LOCK_LOST' });
        await expect(m.lock()).rejects.toMatchObject({ code: 'LOCK_LOST' });
        await inner.unlock();
      })
      .catch(() => undefined); // withLock's own unlock of a lost lock may report the loss
    const again = await m.lock({ timeoutMs: 2000 });
    await again.unlock();
  });
});
