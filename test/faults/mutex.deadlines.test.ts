/**
 * Lock calls on a lost session: the deadline covers the session-acquisition phase too. `lock({ timeoutMs })`
 * rejects LOCK_TIMEOUT (not the session's UNAVAILABLE), and `tryLock()` settles within requestTimeoutMs
 * plus the second its cleanup may take, counted from the call.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

const SLACK = 1000;

async function timed<T>(p: Promise<T>): Promise<{ ms: number; v: T | undefined; err: Error | undefined }> {
  const t0 = performance.now();
  try {
    return { ms: performance.now() - t0, v: await p, err: undefined };
  } catch (e) {
    return { ms: performance.now() - t0, v: undefined, err: e as Error };
  }
}

describe('lock deadlines on a lost session', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  let proxy: FaultProxy;
  const coords: Coordinator[] = [];
  beforeAll(async () => {
    proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
  });
  afterAll(async () => {
    proxy.pass();
    for (const c of coords) await c.close().catch(() => undefined);
    await proxy.close();
  });
  const mk = async (ns: string, viaProxy: boolean, ttlSeconds: number, requestTimeoutMs: number) => {
    const endpoints = viaProxy ? [proxy.endpoint] : etcd.cluster.endpoints;
    const c = await connect({ endpoints, namespace: ns, ttlSeconds, requestTimeoutMs });
    coords.push(c);
    return c;
  };

  for (const kind of ['mutex', 'rwMutex', 'semaphore'] as const) {
    it(`etcd blackholed: ${kind} lock({ timeoutMs }) on a lost session rejects LOCK_TIMEOUT on time`, async () => {
      proxy.pass();
      const a = await mk(uniquePrefix('dl-sess'), true, 2, 1500);
      await a
        .mutex('warm')
        .tryLock()
        .then((l) => l?.unlock());
      proxy.blackhole();
      await sleep(2500); // the session is lost
      const opts = { timeoutMs: 1200 };
      const call =
        kind === 'mutex'
          ? a.mutex('m').lock(opts)
          : kind === 'rwMutex'
            ? a.rwMutex('m').writeLock(opts)
            : a.semaphore('m', 2).acquire(opts);
      const r = await timed(call);
      proxy.pass();
      expect(r.err?.name).toBe('LockTimeoutError');
      expect(r.ms).toBeLessThan(1200 + SLACK);
    }, 20_000);
  }

  it('tryLock on a lost session with a slow (but answering) etcd settles within requestTimeoutMs + 1 s', async () => {
    proxy.pass();
    const ns = uniquePrefix('dl-try');
    const RT = 3000;
    const a = await mk(ns, true, 10, RT);
    const other = await mk(ns, false, 6, 1000);
    const held = await other.mutex('m').lock(); // the try is refused: its cleanup runs too
    await a
      .mutex('warm')
      .tryLock()
      .then((l) => l?.unlock());
    await etcd.cluster.client().leaseClient.leaseRevoke({ ID: a.session.leaseId.toString() });
    while (!a.session.done) await sleep(50);
    proxy.delay(1300); // each request answers within requestTimeoutMs, but a grant plus a try do not
    const r = await timed(a.mutex('m').tryLock());
    proxy.pass();
    await held.unlock();
    if (r.v) await r.v.unlock();
    expect(r.ms).toBeLessThan(RT + 1000 + SLACK);
  }, 30_000);
});
