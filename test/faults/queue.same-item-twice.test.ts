/**
 * One handle holding two deliveries of the same item: its claim was lost (the session's lease expired
 * while the job ran), and a later `pop()` on the same handle claimed the item again under the new
 * session. Settling the stale delivery (refused: `JobLostError`, still queued) must not make the handle
 * forget the live one: `close()` still gives the live delivery back at once, uncounted, instead of
 * leaving its claim to hide the job until the new lease ends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, JobLostError, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('queue: a stale delivery of an item the same handle claimed again', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });
  const coords: Coordinator[] = [];
  const proxies: FaultProxy[] = [];

  afterEach(async () => {
    for (const p of proxies) p.pass();
    await Promise.allSettled(coords.map((c) => c.close()));
    await Promise.allSettled(proxies.map((p) => p.close()));
    coords.length = 0;
    proxies.length = 0;
  });

  it('settling the stale delivery leaves the live one to close(), which releases it', async () => {
    const namespace = uniquePrefix('queue-same-item');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    proxies.push(proxy);
    const cut = await connect({ endpoints: [proxy.endpoint], namespace, ttlSeconds: 2 });
    coords.push(cut);
    const other = await connect({ endpoints: etcd.cluster.endpoints, namespace });
    coords.push(other);
    await other.queue<string>('jobs').push('only');
    const q = cut.queue<string>('jobs');
    const stale = await q.pop({ timeoutMs: 10_000 });
    // Cut off past the TTL: the session is declared lost and etcd expires the lease (and the claim).
    proxy.blackhole();
    await waitFor(() => stale.signal.aborted, { timeoutMs: 10_000 });
    const admin = etcd.cluster.client();
    const claims = () => admin.getAll().prefix(`${namespace}queue/jobs/claims/`).keys();
    await waitFor(async () => (await claims()).length === 0, { timeoutMs: 10_000 });
    proxy.pass();
    const live = await q.pop({ timeoutMs: 15_000 });
    expect(live.id).toBe(stale.id);
    expect(live.attempt).toBe(2);
    const err = await stale.ack().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobLostError);
    expect((err as JobLostError).job).toBe('queued');
    expect(await claims()).toHaveLength(1); // the live delivery's
    await q.close();
    // Given back at once by close(), not left to the new lease's expiry.
    expect(await claims()).toEqual([]);
    const again = await other.queue<string>('jobs').pop({ timeoutMs: 10_000 });
    expect(again.id).toBe(stale.id);
    expect(again.attempt).toBe(2); // a release does not count the delivery
    await again.ack();
  }, 60_000);
});
