/**
 * Issue 16 f1 (locks): tryLock()/tryAcquire() never wait, so with etcd blackholed they settle within the
 * coordinator's request deadline (plus at most a second to start removing a refused key), instead of
 * waiting for a watch that cannot open until the session is lost (about the TTL).
 */
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

const REQUEST_TIMEOUT_MS = 1000;

describe('tryLock with etcd blackholed', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('tryLock, tryAcquire, tryReadLock and tryWriteLock reject UNAVAILABLE within the request deadline + 1 s', async () => {
    const ns = uniquePrefix('trylock-blackhole');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    // A long TTL: the session outlives the test, so only the request deadline can end the calls.
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace: ns,
      ttlSeconds: 30,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    try {
      proxy.blackhole();
      const calls = {
        tryLock: () => coord.mutex('m').tryLock(),
        tryAcquire: () => coord.semaphore('s', 2).tryAcquire(),
        tryReadLock: () => coord.rwMutex('rw').tryReadLock(),
        tryWriteLock: () => coord.rwMutex('rw2').tryWriteLock(),
      };
      for (const [name, call] of Object.entries(calls)) {
        const started = performance.now();
        const outcome = await call().then(
          (v) => ({ ok: true, v }),
          (err: unknown) => ({ ok: false, err }),
        );
        const took = performance.now() - started;
        expect({ name, outcome }).toMatchObject({
          name,
          outcome: { ok: false, err: { code: 'UNAVAILABLE' } },
        });
        expect({ name, took: took < REQUEST_TIMEOUT_MS + 2000 }).toEqual({ name, took: true });
      }
      expect(coord.session.done).toBe(false);
    } finally {
      proxy.pass();
      await coord.close();
      await proxy.close();
    }
  }, 60_000);
});
