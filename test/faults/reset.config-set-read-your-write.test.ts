/**
 * `cfg.set()` "resolves with the write's revision once `value` reflects it (or after the request
 * timeout if the watch lags)". Right after etcd restarts empty, before the follower noticed the reset, the
 * write's revision (new store) is below the follower's revision (old store).
 * Guarantee: after `await cfg.set('k', v)` either `cfg.value.k === v`, or set() took the request timeout.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { usePrivateEtcd } from '../support/shared.js';

const REQ = 3000;

describe('reset: config set() read-your-write across a reset', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const closers: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  });

  for (let run = 0; run < 4; run++) {
    it(`value reflects the write when set() resolves early (run ${run})`, async () => {
      const cluster = etcd.cluster;
      const ns = `brk-${Math.random().toString(16).slice(2, 8)}/`;
      const admin = cluster.client();
      for (let i = 0; i < 50; i++) await admin.put(`${ns}app/pad`).value(String(i));
      const a = await connect({
        endpoints: cluster.endpoints,
        namespace: ns,
        ttlSeconds: 10,
        requestTimeoutMs: REQ,
      });
      closers.push(() => a.close());
      const cfg = await a.config('app/');
      const before = cfg.revision;
      await cluster.members[0]!.restart({ wipeData: true });
      const t0 = performance.now();
      let rev: bigint | string;
      try {
        rev = await cfg.set('k', 'mine');
      } catch (err) {
        rev = `${(err as Error).name}: ${(err as Error).message}`;
      }
      const ms = Math.round(performance.now() - t0);
      const value = JSON.stringify(cfg.value);
      console.log(
        `cfg revision before ${before}; set() -> ${String(rev)} after ${ms} ms; value right after: ${value}; hub resets ${a.watchHub.resets}`,
      );
      if (typeof rev === 'bigint' && ms < REQ) {
        expect(
          (cfg.value as Record<string, unknown>)['k'],
          `set() resolved after ${ms} ms without its write in value`,
        ).toBe('mine');
      }
    });
  }
});
