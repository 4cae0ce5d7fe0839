/**
 * Issue 15 f3: a waiter's enqueue whose answer was lost may be applied again *later* (it sat in a paused
 * member) after the caller released the key; its `Create == 0` guard passes again and the key is back
 * under the caller's live lease, owned by nobody. The GhostSweeper must delete it within its bound.
 *
 * How the late apply is produced (deterministically): the holder's traffic goes through a FaultProxy in
 * drop-replies mode while it enqueues, so the first enqueue attempt applies but its answer is lost
 * (UNAVAILABLE, mayHaveApplied); the proxy is healed once the key exists, and the retry adopts the key.
 * After the caller unlocked, the test re-sends that same first attempt — the identical txn, `Create == 0`
 * then put under the holder's lease — from another client: exactly what a paused member applying the
 * stalled attempt would commit.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { GhostSweeper } from '../../src/core/ghost-sweeper.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('ghost keys from late-applied enqueues', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  // `semaphore x3` and `rw write` make several keys in one txn (issue 25): each must be swept.
  for (const kind of ['mutex', 'semaphore', 'semaphore x3', 'rw write'] as const) {
    it(`${kind}: a key re-created by the late first attempt after unlock is deleted; another client acquires within 2 s`, async () => {
      const ns = uniquePrefix(`ghost-${kind}`);
      const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
      const holder = await connect({
        endpoints: [proxy.endpoint],
        namespace: ns,
        ttlSeconds: 5,
        requestTimeoutMs: 1000,
      });
      const other = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 2 });
      const admin = etcd.cluster.client();
      const take = (c: typeof holder, opts: { timeoutMs?: number } = {}) =>
        kind === 'mutex'
          ? c.mutex('m').lock(opts)
          : kind === 'semaphore'
            ? c.semaphore('m', 1).acquire(opts)
            : kind === 'semaphore x3'
              ? c.semaphore('m', 3).acquire({ ...opts, permits: 3 })
              : c.rwMutex('m').writeLock(opts);
      const keysPerTake = kind === 'semaphore x3' ? 3 : kind === 'rw write' ? 2 : 1;
      try {
        // Warm up: the lock's shared watch is open (it lingers), so the enqueue is the next request.
        await (await take(holder)).unlock();
        expect(GhostSweeper.of(holder).armedCount).toBe(0); // nothing armed on the happy path

        proxy.dropReplies();
        const locking = take(holder, { timeoutMs: 20_000 });
        const kvs = await waitFor(
          async () => {
            const kvs = (await admin.getAll().prefix(`${ns}m/`).exec()).kvs;
            return kvs.length > 0 ? kvs : undefined;
          },
          { message: 'first enqueue attempt applied' },
        );
        proxy.pass(); // the retry goes through and finds (adopts) the key
        const lock = await locking;
        expect(kvs).toHaveLength(keysPerTake); // one txn: every key of the acquisition, or none
        expect(kvs!.some((kv) => lock.etcdKey.equals(kv.key))).toBe(true);
        expect(GhostSweeper.of(holder).armedCount).toBe(keysPerTake);
        await lock.unlock();

        // The stalled first attempt, applied late: its guard passes again because the key is absent.
        const late = await admin.kv.txn({
          compare: [{ key: lock.etcdKey, target: 'Create', result: 'Equal', create_revision: '0' }],
          success: kvs!.map((kv) => ({
            request_put: { key: kv.key, value: Buffer.alloc(0), lease: kv.lease },
          })),
        });
        expect(late.succeeded).toBe(true);

        const next = await take(other, { timeoutMs: 2000 });
        expect(holder.session.done).toBe(false); // freed by the sweeper, not by the lease
        await next.unlock();
        expect((await admin.getAll().prefix(`${ns}m/`).keys()).length).toBe(0);
      } finally {
        proxy.pass();
        await Promise.allSettled([holder.close(), other.close()]);
        await proxy.close();
      }
    }, 60_000);
  }

  it('a ghost that appears while the owner holds the key again is adopted, not deleted', async () => {
    const ns = uniquePrefix('ghost-held');
    const coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 5 });
    try {
      const m = coord.mutex('m');
      const first = await m.lock();
      const key = first.etcdKey;
      GhostSweeper.of(coord).arm(key, {
        leaseId: first.leaseId,
        alive: coord.session.signal,
        what: 'test',
      });
      await first.unlock();
      const again = await m.lock();
      await new Promise((r) => setTimeout(r, 300));
      expect(again.held).toBe(true); // the sweeper never touches a key a local caller holds
      await again.unlock();
      await waitFor(async () => (await coord.client.getAll().prefix(`${ns}m/`).keys()).length === 0, {
        message: 'key released',
      });
    } finally {
      await coord.close();
    }
  });
});
