/**
 * Issue 15 f3 for double-barrier participants: an enter whose create got no answer may be applied late,
 * after the participant left, re-creating its key under the live session with no owner (everyone's
 * `leave()` would wait for it). The ghost sweeper deletes such a key within a bounded time.
 *
 * The late apply is played by an admin client writing exactly what the stalled attempt carried (the same
 * key, lease and `Create == 0` guard), after the fault made an attempt's outcome unknown for real.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('double barrier: a participant key re-created by a late attempt is swept', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const coords: Coordinator[] = [];
  const proxies: FaultProxy[] = [];

  afterEach(async () => {
    for (const p of proxies) p.pass();
    await Promise.allSettled(coords.map((c) => c.close()));
    await Promise.allSettled(proxies.map((p) => p.close()));
    coords.length = 0;
    proxies.length = 0;
  });

  it('enter whose create reply was dropped, leave, then the stalled create applies: the key is deleted again', async () => {
    const namespace = uniquePrefix('barrier-ghost');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    proxies.push(proxy);
    const coord = await connect({ endpoints: [proxy.endpoint], namespace, requestTimeoutMs: 1000 });
    coords.push(coord);
    const admin = etcd.cluster.client();
    const waiters = `${namespace}group/waiters/`;
    // A first participant (its own session) keeps the barrier's watch open, so the second one's enter
    // sends its create at once, into the fault.
    const first = coord.doubleBarrier('group', 2, { session: await coord.newSession() });
    const firstIn = first.enter({ timeoutMs: 20_000 });
    await waitFor(async () => (await admin.getAll().prefix(waiters).keys()).length === 1);
    const b = coord.doubleBarrier('group', 2);
    proxy.dropReplies();
    const entering = b.enter({ timeoutMs: 20_000 });
    await waitFor(async () => (await admin.getAll().prefix(waiters).keys()).length === 2);
    // Long enough for that create attempt to time out unanswered (requestTimeoutMs 1000), then heal.
    await new Promise((r) => setTimeout(r, 1300));
    proxy.pass();
    await Promise.all([firstIn, entering]); // the retry recognised its own token
    const key = b.key!;
    await Promise.all([first.leave({ timeoutMs: 5000 }), b.leave({ timeoutMs: 5000 })]);
    expect((await admin.get(key).exec()).kvs).toHaveLength(0);

    // The stalled first attempt lands now.
    const lease = coord.session.leaseId.toString();
    const late = await admin
      .if(key, 'Create', '==', 0)
      .then(admin.put(key).value('stale-token').lease(lease))
      .commit();
    expect(late.succeeded).toBe(true);
    await waitFor(async () => (await admin.get(key).exec()).kvs.length === 0, { timeoutMs: 3000 });
  }, 60_000);
});
