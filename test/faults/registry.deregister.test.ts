/**
 * Issue 15 f1 and issue 22 for registrations: `deregister()` is safe to call again after a failure and is
 * retried in the background (the key is gone within ~1 s plus one request timeout once etcd is reachable,
 * without the coordinator closing); register/update/deregister settle within `timeoutMs` + 1 s with etcd
 * paused.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, CoordError, UnavailableError, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

const REQUEST_TIMEOUT_MS = 1000;
const HEALED_WITHIN_MS = 1000 + REQUEST_TIMEOUT_MS + 1000;
const TIMEOUT_MS = 1000;
const SLACK_MS = 1000;

describe('registry: deregister after a failure, deadlines with etcd paused', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const coords: Coordinator[] = [];
  const proxies: FaultProxy[] = [];

  afterEach(async () => {
    const member = etcd.cluster.members[0]!;
    if (member.paused) member.resume();
    for (const p of proxies) p.pass();
    await Promise.allSettled(coords.map((c) => c.close()));
    await Promise.allSettled(proxies.map((p) => p.close()));
    coords.length = 0;
    proxies.length = 0;
  });

  async function cutOff(): Promise<{ namespace: string; proxy: FaultProxy; coord: Coordinator }> {
    const namespace = uniquePrefix('reg-deregister');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    proxies.push(proxy);
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    coords.push(coord);
    return { namespace, proxy, coord };
  }

  const exists = async (key: string) => (await etcd.cluster.client().get(key).exec()).kvs.length > 0;

  for (const ttlSeconds of [undefined, 5]) {
    const lease = ttlSeconds === undefined ? 'the default session' : 'a separate lease';
    it(`deregister() blackholed rejects, is retried in the background, and the key is gone soon after healing (${lease})`, async () => {
      const { namespace, proxy, coord } = await cutOff();
      const reg = await coord.registry('api').register({
        id: 'a1',
        address: 'a1:80',
        ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      });
      const key = `${namespace}services/api/a1`;
      expect(await exists(key)).toBe(true);
      proxy.blackhole();
      const failed = await reg.deregister({ timeoutMs: 500 }).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(CoordError);
      expect(await exists(key)).toBe(true);
      proxy.pass();
      const healed = performance.now();
      await waitFor(async () => !(await exists(key)), { timeoutMs: HEALED_WITHIN_MS });
      expect(performance.now() - healed).toBeLessThan(HEALED_WITHIN_MS);
      await reg.deregister(); // called again: confirmed
    }, 60_000);
  }

  it('deregister() whose reply was dropped, called again, resolves (the delete applied)', async () => {
    const { namespace, proxy, coord } = await cutOff();
    const reg = await coord.registry('api').register({ id: 'a2', address: 'a2:80' });
    proxy.dropReplies();
    await expect(reg.deregister({ timeoutMs: 1500 })).rejects.toBeInstanceOf(UnavailableError);
    expect(await exists(`${namespace}services/api/a2`)).toBe(false);
    proxy.pass();
    await reg.deregister();
  }, 60_000);

  it('a register write whose reply was dropped, applied again late after deregister, is swept (no ghost instance)', async () => {
    const { namespace, proxy, coord } = await cutOff();
    proxy.dropReplies();
    // timeoutMs past the first write's timeout: without it, register() gives up at requestTimeoutMs.
    const registering = coord.registry('api').register({ id: 'g1', address: 'g1:80', timeoutMs: 5000 });
    const key = `${namespace}services/api/g1`;
    await waitFor(() => exists(key));
    // Long enough for that write to time out unanswered (requestTimeoutMs 1000), then heal.
    await new Promise((r) => setTimeout(r, 1300));
    proxy.pass();
    const reg = await registering;
    await reg.deregister({ timeoutMs: 5000 });
    expect(await exists(key)).toBe(false);
    // The stalled first write lands now: the same key, under the same lease, guarded by "absent".
    const admin = etcd.cluster.client();
    const late = await admin
      .if(key, 'Create', '==', 0)
      .then(admin.put(key).value('{"Addr":"g1:80"}').lease(coord.session.leaseId.toString()))
      .commit();
    expect(late.succeeded).toBe(true);
    await waitFor(async () => !(await exists(key)), { timeoutMs: 3000 });
  }, 60_000);

  it('register, update and deregister settle within timeoutMs + 1 s with etcd paused', async () => {
    const coord = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('reg-deadline'),
    });
    coords.push(coord);
    const registry = coord.registry('api');
    const reg = await registry.register({ id: 'b1', address: 'b1:80' });
    const regOther = await registry.register({ id: 'b2', address: 'b2:80', ttlSeconds: 30 });
    // (The separate lease's TTL outlives the pause: a lost lease would make deregister() resolve at once.)
    etcd.cluster.members[0]!.pause();
    const calls: [string, () => Promise<unknown>][] = [
      ['register', () => registry.register({ id: 'b3', address: 'b3:80', timeoutMs: TIMEOUT_MS })],
      [
        'register (another TTL)',
        () => registry.register({ id: 'b4', address: 'b4:80', ttlSeconds: 7, timeoutMs: TIMEOUT_MS }),
      ],
      ['update', () => reg.update({ v: 2 }, { timeoutMs: TIMEOUT_MS })],
      ['deregister', () => reg.deregister({ timeoutMs: TIMEOUT_MS })],
      ['deregister (another TTL)', () => regOther.deregister({ timeoutMs: TIMEOUT_MS })],
    ];
    for (const [name, call] of calls) {
      const started = performance.now();
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      const elapsed = performance.now() - started;
      expect(err, name).toBeInstanceOf(CoordError);
      expect(elapsed, name).toBeLessThan(TIMEOUT_MS + SLACK_MS);
    }
  }, 60_000);
});
