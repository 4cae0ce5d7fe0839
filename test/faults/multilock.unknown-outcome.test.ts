/**
 * Issue 25: a multi-lock's enqueue txn whose answer was lost. The holder's traffic goes through a
 * FaultProxy in drop-replies mode, so the first attempt applies (every key, one revision) but its answer
 * never comes back; once the keys exist the proxy is healed and the retry runs.
 * - All keys there: the retry adopts them (same create revision), and after unlock a late copy of the
 *   stalled attempt re-creating them is swept, so another client gets the locks.
 * - Only some there (someone deleted one meanwhile): the retry deletes the rest and enqueues afresh, so
 *   every key again shares one create revision (keys from separate txns would break the total order that
 *   makes multi-locks deadlock-free).
 */
import { describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { GhostSweeper } from '../../src/core/ghost-sweeper.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('multiLock: enqueue of unknown outcome', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const names = ['a', 'b', 'c'];

  async function setup(label: string) {
    const ns = uniquePrefix(label);
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const holder = await connect({
      endpoints: [proxy.endpoint],
      namespace: ns,
      ttlSeconds: 5,
      requestTimeoutMs: 1000,
    });
    const other = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 2 });
    const admin = etcd.cluster.client();
    const keys = async () =>
      (await Promise.all(names.map((n) => admin.getAll().prefix(`${ns}${n}/`).exec()))).flatMap((r) => r.kvs);
    // Warm up: the shared watches are open (they linger), so the enqueue is the next request.
    await (await holder.multiLock(names).lock()).unlock();
    const stop = async (...coords: Coordinator[]) => {
      proxy.pass();
      await Promise.allSettled(coords.map((c) => c.close()));
      await proxy.close();
    };
    return { proxy, holder, other, admin, keys, stop: () => stop(holder, other) };
  }

  it('all keys applied: the retry adopts them; a late copy after unlock is swept', async () => {
    const { proxy, holder, other, admin, keys, stop } = await setup('ml-adopt');
    try {
      proxy.dropReplies();
      const locking = holder.multiLock(names).lock({ timeoutMs: 20_000 });
      const kvs = (await waitFor(async () => ((await keys()).length === 3 ? keys() : undefined), {
        message: 'first enqueue attempt applied',
      }))!;
      proxy.pass();
      const held = await locking;
      const rev = BigInt(kvs[0]!.create_revision);
      expect([...held.fencingTokens.values()]).toEqual([rev, rev, rev]);
      expect(GhostSweeper.of(holder).armedCount).toBe(3);
      await held.unlock();
      expect(await keys()).toEqual([]);

      // The stalled first attempt, applied late: every key is absent again, so its guard passes.
      const late = await admin.kv.txn({
        compare: kvs.map((kv) => ({ key: kv.key, target: 'Create', result: 'Equal', create_revision: '0' })),
        success: kvs.map((kv) => ({
          request_put: { key: kv.key, value: Buffer.alloc(0), lease: kv.lease },
        })),
      });
      expect(late.succeeded).toBe(true);
      const next = await other.multiLock(names).lock({ timeoutMs: 3000 });
      expect(holder.session.done).toBe(false); // freed by the sweeper, not by the lease
      await next.unlock();
      expect(await keys()).toEqual([]);
    } finally {
      await stop();
    }
  }, 60_000);

  it('some keys deleted meanwhile: the retry removes the rest and enqueues all at one new revision', async () => {
    const { proxy, holder, admin, keys, stop } = await setup('ml-partial');
    try {
      proxy.dropReplies();
      const locking = holder.multiLock(names).lock({ timeoutMs: 20_000 });
      const kvs = (await waitFor(async () => ((await keys()).length === 3 ? keys() : undefined), {
        message: 'first enqueue attempt applied',
      }))!;
      const first = BigInt(kvs[0]!.create_revision);
      await admin.delete().key(kvs[1]!.key.toString()); // someone deletes b's key
      proxy.pass();
      const held = await locking;
      const tokens = [...held.fencingTokens.values()];
      expect(new Set(tokens).size).toBe(1);
      expect(tokens[0]).toBeGreaterThan(first);
      const now = await keys();
      expect(now.map((kv) => BigInt(kv.create_revision))).toEqual(tokens);
      expect(held.held).toBe(true);
      await held.unlock();
      expect(await keys()).toEqual([]);
    } finally {
      await stop();
    }
  }, 60_000);
});
