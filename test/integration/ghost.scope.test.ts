/**
 * The ghost sweeper's check and sweep outlive the call that armed or released the key (a `lock()` whose
 * caller aborted releases its hold on the way out): they must not run under that call's scope, or the
 * call's aborted signal stops the sweep and the ghost key stays under the live lease.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'vitest';
import { inScope, type CallScope } from '../../src/core/call-scope.js';
import { GhostSweeper } from '../../src/core/ghost-sweeper.js';
import { connect } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('ghost sweeper work runs outside any caller scope', () => {
  const etcd = useSharedEtcd('ghost-scope');

  it('a hold released by an aborted call still lets the sweeper delete the ghost key', async () => {
    const coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 });
    const key = `${etcd.prefix}m/ghost`;
    try {
      const session = await coord.currentSession();
      // The key a late-applied create left under the live lease, owned by nobody.
      await etcd.admin.put(key).value('').lease(session.leaseId.toString()).exec();
      const sweeper = GhostSweeper.of(coord);
      const ac = new AbortController();
      const caller: CallScope = { signal: ac.signal, expiresAt: performance.now() + 60_000, active: true };
      await inScope(caller, async () => {
        const hold = sweeper.hold(Buffer.from(key));
        sweeper.arm(Buffer.from(key), { leaseId: session.leaseId, alive: session.signal, what: 'test' });
        await sleep(300); // the sweeper has seen the key under the lease; the hold keeps it
        ac.abort(); // the caller gives up, and releases its hold on the way out
        hold();
        await sleep(50);
      });
      await waitFor(async () => (await etcd.admin.get(key).string()) === null, {
        timeoutMs: 2000,
        message: 'the ghost key is deleted',
      });
    } finally {
      await coord.close();
    }
  });
});
