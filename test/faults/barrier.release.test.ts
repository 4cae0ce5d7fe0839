/**
 * Issue 15 f1: a barrier's `release()` and a double barrier's `leave()` are safe to call again after a
 * failure and are retried in the background: once etcd is reachable again the key is gone within ~1 s
 * plus one request timeout, without the coordinator closing. A retried release never takes down a
 * barrier someone held again since.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, CoordError, UnavailableError, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

const REQUEST_TIMEOUT_MS = 1000;
/** "~1 s plus one request timeout", plus scheduling slack on a loaded machine. */
const HEALED_WITHIN_MS = 1000 + REQUEST_TIMEOUT_MS + 1000;

describe('barrier releases after a failure', () => {
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

  async function setup(): Promise<{
    namespace: string;
    proxy: FaultProxy;
    cut: Coordinator;
    other: Coordinator;
  }> {
    const namespace = uniquePrefix('barrier-release');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    proxies.push(proxy);
    // The default TTL (10 s): the session outlives the fault, so only the release is at stake.
    const cut = await connect({
      endpoints: [proxy.endpoint],
      namespace,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    coords.push(cut);
    const other = await connect({ endpoints: etcd.cluster.endpoints, namespace });
    coords.push(other);
    return { namespace, proxy, cut, other };
  }

  const exists = async (key: string) => (await etcd.cluster.client().get(key).exec()).kvs.length > 0;
  const count = async (prefix: string) => (await etcd.cluster.client().getAll().prefix(prefix).keys()).length;

  it('release() blackholed rejects, is retried in the background, and the barrier is down soon after healing', async () => {
    const { namespace, proxy, cut } = await setup();
    const gate = cut.barrier('gate');
    expect(await gate.hold()).toBe(true);
    proxy.blackhole();
    await expect(gate.release({ timeoutMs: 500 })).rejects.toBeInstanceOf(UnavailableError);
    expect(await exists(`${namespace}gate`)).toBe(true);
    proxy.pass();
    const healed = performance.now();
    await waitFor(async () => !(await exists(`${namespace}gate`)), { timeoutMs: HEALED_WITHIN_MS });
    expect(performance.now() - healed).toBeLessThan(HEALED_WITHIN_MS);
    expect(await gate.release()).toBe(true); // the release it started, confirmed
    expect(await gate.release()).toBe(false); // a new release: nothing is held
  }, 60_000);

  it('release() whose reply was dropped, called again, never takes down a barrier held again since', async () => {
    const { namespace, proxy, cut, other } = await setup();
    const gate = cut.barrier('gate');
    expect(await gate.hold()).toBe(true);
    proxy.dropReplies();
    await expect(gate.release({ timeoutMs: 1500 })).rejects.toBeInstanceOf(UnavailableError);
    expect(await exists(`${namespace}gate`)).toBe(false); // it applied
    expect(await other.barrier('gate').hold()).toBe(true); // someone else puts it up again
    proxy.pass();
    expect(await gate.release()).toBe(true);
    expect(await exists(`${namespace}gate`)).toBe(true); // the new holding stands
  }, 60_000);

  it('leave() blackholed rejects, is retried in the background, and the participant key is gone soon after healing', async () => {
    const { namespace, proxy, cut } = await setup();
    const b = cut.doubleBarrier('group', 1);
    await b.enter({ timeoutMs: 5000 });
    expect(await count(`${namespace}group/waiters/`)).toBe(1);
    proxy.blackhole();
    // A wait: its timeout is ABORTED ("timed out"); the delete goes on in the background.
    await expect(b.leave({ timeoutMs: 500 })).rejects.toBeInstanceOf(CoordError);
    proxy.pass();
    const healed = performance.now();
    await waitFor(async () => (await count(`${namespace}group/waiters/`)) === 0, {
      timeoutMs: HEALED_WITHIN_MS,
    });
    expect(performance.now() - healed).toBeLessThan(HEALED_WITHIN_MS);
    await b.leave({ timeoutMs: 5000 }); // called again: resolves (everyone has left)
    expect(b.key).toBeUndefined();
  }, 60_000);
});
