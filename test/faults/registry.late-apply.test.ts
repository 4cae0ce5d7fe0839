/**
 * registry register() retries an unanswered create (guarded by "key absent", under the
 * registration's lease). Its first attempt travels over a slow link (4 s, TCP semantics) to m0; the retry
 * wins elsewhere; the instance is deregistered; then the first attempt reaches etcd. Guarantee (DESIGN
 * failure class 1): a late-applied old attempt must not resurrect a key — a deregistered instance must not
 * come back in discovery while the process (and its lease) lives on.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { SlowLink } from '../support/slow-link.js';
import { usePrivateEtcd } from '../support/shared.js';

describe('registry register late apply', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });

  it('a deregistered instance is not re-registered by the delayed first attempt', async () => {
    const [m0, m1, m2] = etcd.cluster.members;
    const link = await SlowLink.start(m0!.endpoint);
    const a = await connect({
      endpoints: [link.endpoint, m1!.endpoint, m2!.endpoint],
      requestTimeoutMs: 1000,
      ttlSeconds: 20,
    });
    const b = await connect({ endpoints: [m1!.endpoint, m2!.endpoint] });
    try {
      for (let i = 0; i < 30; i++) await a.counter('warm').get();
      link.delayMs = 4000;
      const t0 = performance.now();
      const durations: number[] = [];
      const regs = await Promise.all(
        Array.from({ length: 9 }, async (_, i) => {
          const s = performance.now();
          const r = await a
            .registry('pay')
            .register({ id: `i${i}`, address: `10.0.0.${i}:80`, timeoutMs: 6000 });
          durations[i] = Math.round(performance.now() - s);
          return r;
        }),
      );
      console.log('register durations', durations.join(','));
      // Deregister each (retried by the library until confirmed).
      for (const r of regs)
        await r.deregister({ timeoutMs: 6000 }).catch((e: Error) => console.log('deregister', e.message));
      const svc = await b.discovery('pay');
      const before = svc.instances().map((x) => x.id);
      await sleep(Math.max(0, 4000 + 2500 - (performance.now() - t0)));
      const after = svc.instances().map((x) => x.id);
      console.log({ before, after, aSessionAlive: !a.session.done });
      await svc.close();
      expect({ before, after }).toEqual({ before: [], after: [] });
    } finally {
      link.delayMs = 0;
      await a.close();
      await b.close();
      await link.close();
    }
  });
});
