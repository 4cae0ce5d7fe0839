/**
 * An ack cut by its own deadline while an attempt is in flight (the torture campaign's `queue/acked`
 * finding, seed 20261121): the call rejects, the attempt (or the background retry) applies, and the job
 * is gone. The rejection must say the ack may have applied: a consumer told "not applied" would expect a
 * redelivery that never comes (the campaign recorded the ack `failed` and reported the job lost).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, UnavailableError, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

const REQUEST_TIMEOUT_MS = 1000;

describe('queue: an ack whose deadline passes with an attempt in flight', () => {
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

  async function setup(): Promise<{ namespace: string; proxy: FaultProxy; cut: Coordinator }> {
    const namespace = uniquePrefix('queue-ack-deadline');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    proxies.push(proxy);
    // A TTL long enough that the lease outlives the dropped replies: the claim stays live throughout.
    const cut = await connect({
      endpoints: [proxy.endpoint],
      namespace,
      ttlSeconds: 10,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    coords.push(cut);
    const other = await connect({ endpoints: etcd.cluster.endpoints, namespace });
    coords.push(other);
    await other.queue<string>('jobs').push('only');
    return { namespace, proxy, cut };
  }

  const items = (namespace: string) =>
    etcd.cluster.client().getAll().prefix(`${namespace}queue/jobs/items/`).keys();

  for (const timeoutMs of [undefined, 500]) {
    it(`ack(${timeoutMs === undefined ? '' : `{ timeoutMs: ${timeoutMs} }`}) with its reply dropped rejects mayHaveApplied, and it did apply`, async () => {
      const { namespace, proxy, cut } = await setup();
      const q = cut.queue<string>('jobs');
      const job = await q.pop({ timeoutMs: 10_000 });
      proxy.dropReplies();
      // The deadline (the request timeout by default) passes before the attempt's own timeout fires.
      const err = await job.ack(timeoutMs === undefined ? {} : { timeoutMs }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect((err as UnavailableError).mayHaveApplied, (err as Error).message).toBe(true);
      expect((err as Error).message).toMatch(/may have (been )?applied/);
      await waitFor(async () => (await items(namespace)).length === 0); // it did apply
      proxy.pass();
      await job.ack(); // the background retry recognises its own earlier attempt
      expect(q.stats.acked).toBe(1);
    }, 60_000);
  }
});
