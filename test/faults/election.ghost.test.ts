/**
 * Issue 15 f3 for election: a candidate put whose answer was lost may be applied again *later* (it sat in
 * a paused member) after the candidate resigned; its `Create == 0` guard passes again and the key is back
 * under the candidate's live lease, owned by nobody — a candidate that would queue, then lead, for as long
 * as the process runs. The core GhostSweeper deletes it within its bound (one watch notification plus one
 * delete round trip once etcd answers).
 *
 * The late apply is produced as in test/faults/mutex.ghost.test.ts: the candidate's first put goes through a
 * FaultProxy in drop-replies mode (it applies, the answer is lost), the proxy heals, the retry adopts the
 * key; after the resign the test re-sends that same first txn from another client, which is exactly what a
 * paused member applying the stalled attempt would commit.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { GhostSweeper } from '../../src/core/ghost-sweeper.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('election: ghost candidate keys from late-applied puts', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('a candidate key re-created by the late first put after resign is deleted; another candidate is elected within 2 s', async () => {
    const ns = uniquePrefix('el-ghost');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const holder = await connect({
      endpoints: [proxy.endpoint],
      namespace: ns,
      ttlSeconds: 5,
      requestTimeoutMs: 1000,
    });
    const other = await connect({ endpoints: etcd.cluster.endpoints, namespace: ns, ttlSeconds: 2 });
    const admin = etcd.cluster.client();
    try {
      // A first term on a second session of the same coordinator keeps the election's watch open, so the
      // campaign below sends its put at once (a watch create would need an answer too).
      const s2 = await holder.newSession({ ttlSeconds: 5 });
      const first = await holder.election('g', { session: s2 }).campaign('first');
      expect(GhostSweeper.of(holder).armedCount).toBe(0);

      proxy.dropReplies();
      const campaigning = holder.election('g').campaign('mine', { timeoutMs: 20_000 });
      const mine = `${ns}g/${holder.session.leaseId.toString(16)}`;
      const kv = await waitFor(async () => (await admin.get(mine).exec()).kvs[0], {
        message: 'first put applied',
      });
      proxy.pass(); // the retry goes through and finds (adopts) the key
      await first.resign();
      const term = await campaigning;
      expect(term.fencingToken).toBe(BigInt(kv!.create_revision));
      expect(GhostSweeper.of(holder).armedCount).toBe(1);
      await term.resign();

      // The stalled first put, applied late: its guard passes again because the key is absent.
      const late = await admin.kv.txn({
        compare: [{ key: kv!.key, target: 'Create', result: 'Equal', create_revision: '0' }],
        success: [{ request_put: { key: kv!.key, value: kv!.value, lease: kv!.lease } }],
      });
      expect(late.succeeded).toBe(true);

      const next = await other.election('g').campaign('other', { timeoutMs: 2000 });
      expect(holder.session.done).toBe(false); // freed by the sweeper, not by the lease
      await next.resign();
      expect(await admin.getAll().prefix(`${ns}g/`).keys()).toHaveLength(0);
    } finally {
      proxy.pass();
      await Promise.allSettled([holder.close(), other.close()]);
      await proxy.close();
    }
  }, 60_000);
});
