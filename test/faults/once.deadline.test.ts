/**
 * once({ timeoutMs }) settles within timeoutMs + 1 s when etcd stops answering (a blackholed proxy between
 * the client and etcd), with a live session and after the session was lost (breaker F3).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect, once } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { usePrivateEtcd } from '../support/shared.js';

const SLACK_MS = 1000;

describe('once: timeoutMs under a blackhole', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  for (const phase of ['fresh', 'after-loss'] as const) {
    it(`once({ timeoutMs: 1000 }) settles within 2 s and never runs the job (${phase})`, async () => {
      const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
      const coord = await connect({ endpoints: [proxy.endpoint], ttlSeconds: 2 });
      try {
        await coord.currentSession();
        proxy.blackhole();
        if (phase === 'after-loss') await sleep(2500);
        let ran = false;
        const t0 = Date.now();
        const outcome = await once(coord, 'dl-job', { slot: `s-${phase}`, timeoutMs: 1000 }, async () => {
          ran = true;
          return 1;
        }).then(
          () => 'resolved',
          (err: Error) => `${err.name}: ${err.message}`,
        );
        const ms = Date.now() - t0;
        expect(ran).toBe(false);
        expect(ms, outcome).toBeLessThanOrEqual(1000 + SLACK_MS);
        expect(outcome).toMatch(/LockTimeoutError|UnavailableError/);
      } finally {
        proxy.pass();
        await coord.close().catch(() => undefined);
        await proxy.close();
      }
    });
  }
});
