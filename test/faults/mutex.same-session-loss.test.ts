/**
 * A second in-process `lock()` on the same session and name waits its local turn behind the holder. When
 * the session is lost, that caller must reject SESSION_EXPIRED as soon as the loss is declared, not stay
 * queued until `timeoutMs` (or for ever) behind a holder that never unlocks.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { uniquePrefix, useSharedEtcd } from '../support/shared.js';

describe('mutex: a caller queued in process behind a holder on a lost session', () => {
  const etcd = useSharedEtcd('mutex-ssl');
  const coords: Coordinator[] = [];
  afterAll(async () => {
    for (const c of coords) await c.close().catch(() => undefined);
  });
  const mk = async (ns: string) => {
    const c = await connect({
      endpoints: etcd.endpoints,
      namespace: ns,
      ttlSeconds: 5,
      requestTimeoutMs: 1000,
    });
    coords.push(c);
    return c;
  };

  for (const variant of ['default session', 'explicit session'] as const) {
    it(`${variant}: rejects SESSION_EXPIRED within 1 s of the loss, the holder never unlocking`, async () => {
      const a = await mk(uniquePrefix('ssl'));
      const session = variant === 'explicit session' ? await a.newSession({ ttlSeconds: 5 }) : a.session;
      const m = a.mutex('m', variant === 'explicit session' ? { session } : {});
      const l1 = await m.lock();
      const p2 = m.lock({ timeoutMs: 8000 }).then(
        (l) => ({ at: performance.now(), l, err: undefined }),
        (e: Error) => ({ at: performance.now(), l: undefined, err: e }),
      );
      await sleep(300);
      let lostAt = 0;
      session.once('lost', () => (lostAt = performance.now()));
      await etcd.admin.leaseClient.leaseRevoke({ ID: session.leaseId.toString() });
      const r = await p2;
      await r.l?.unlock();
      expect(l1.held).toBe(false);
      expect(r.err?.name).toBe('SessionExpiredError');
      expect(lostAt).toBeGreaterThan(0);
      expect(r.at - lostAt).toBeLessThan(1000);
    }, 30_000);
  }

  it('without timeoutMs: rejects SESSION_EXPIRED within 3 s of the loss', async () => {
    const a = await mk(uniquePrefix('ssl-nt'));
    const m = a.mutex('m');
    const l1 = await m.lock();
    let settled = '';
    const p2 = m.lock().then(
      (l) => ((settled = 'granted'), l),
      (e: Error) => ((settled = e.name), undefined),
    );
    await sleep(300);
    const lost = new Promise<void>((r) => a.session.once('lost', () => r()));
    await etcd.admin.leaseClient.leaseRevoke({ ID: a.session.leaseId.toString() });
    await lost;
    await sleep(3000);
    const state = settled || 'pending';
    await l1.unlock().catch(() => undefined);
    const l2 = await p2.catch(() => undefined);
    await l2?.unlock().catch(() => undefined);
    expect(state).toBe('SessionExpiredError');
  }, 30_000);
});
