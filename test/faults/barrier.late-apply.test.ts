/**
 * barrier.hold() retries an unanswered attempt (guarded by "key absent"), through endpoint
 * failover. Its first attempt travels over a slow link (SlowLink, 4 s delay, TCP semantics) to m0; the
 * retry wins on another member; the barrier is released (by another client); then the first attempt
 * reaches etcd. Guarantee (DESIGN failure class 1): a late-applied old attempt must not resurrect a key —
 * a released barrier must stay released (else every wait() blocks until someone releases it by hand).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { SlowLink } from '../support/slow-link.js';
import { usePrivateEtcd } from '../support/shared.js';

describe('barrier hold late apply', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });

  it.each([false, true])(
    'a released barrier (ephemeral: %s) is not held again by the delayed first attempt of hold()',
    async (ephemeral) => {
      const [m0, m1, m2] = etcd.cluster.members;
      const link = await SlowLink.start(m0!.endpoint);
      const a = await connect({
        endpoints: [link.endpoint, m1!.endpoint, m2!.endpoint],
        requestTimeoutMs: 1000,
      });
      const b = await connect({ endpoints: [m1!.endpoint, m2!.endpoint] });
      try {
        for (let i = 0; i < 30; i++) await a.counter('warm').get();
        link.delayMs = 4000;
        const t0 = performance.now();
        const names = Array.from({ length: 9 }, (_, i) => `bar-${i}`);
        const durations: number[] = [];
        const held = await Promise.all(
          names.map(async (n, i) => {
            const s = performance.now();
            const r = await a.barrier(n).hold({ timeoutMs: 6000, ephemeral });
            durations[i] = Math.round(performance.now() - s);
            return r;
          }),
        );
        console.log('hold durations', durations.join(','), held.join(','));
        for (const n of names) await b.barrier(n).release({ timeoutMs: 3000 });
        for (const n of names) expect(await b.barrier(n).isHeld()).toBe(false);
        await sleep(Math.max(0, 4000 + 2500 - (performance.now() - t0)));
        const heldAgain: string[] = [];
        for (const n of names) if (await b.barrier(n).isHeld()) heldAgain.push(n);
        const slow = names.filter((_, i) => durations[i]! > 900);
        console.log({ slowFirstAttempt: slow, heldAgain });
        expect({ heldAgainAfterRelease: heldAgain }).toEqual({ heldAgainAfterRelease: [] });
      } finally {
        link.delayMs = 0;
        await a.close();
        await b.close();
        await link.close();
      }
    },
  );
});
