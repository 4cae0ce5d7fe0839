/**
 * Issue 15, finding 5: the default session's renewal is shared by every waiting caller and belongs to
 * none of them: one caller aborting must not fail the others.
 */
import { describe, expect, it } from 'vitest';
import { AbortedError, connect } from '../../src/index.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('the shared session renewal is independent of any one caller', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('two callers wait for the renewal, one aborts: the other still gets a session', async () => {
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace: uniquePrefix('renew'),
      ttlSeconds: 2,
    });
    const admin = etcd.cluster.client();
    try {
      const lost = coord.session;
      await admin.lease(2, { autoKeepAlive: false }); // warm the admin client
      await admin.leaseClient.leaseRevoke({ ID: lost.leaseId.toString() });
      await waitFor(() => lost.done, { timeoutMs: 5000, message: 'session noticed the revoke' });

      // Slow every byte, so the renewal's grant is still in flight when the first caller gives up.
      proxy.delay(700);
      const impatient = new AbortController();
      const first = coord.currentSession({ signal: impatient.signal });
      const second = coord.currentSession();
      setTimeout(() => impatient.abort(), 200);

      await expect(first).rejects.toBeInstanceOf(AbortedError);
      // The grant is in flight; from here on the link is fast again, so the new session's keepalives are not
      // 1.4 s round trips against a 2 s TTL (on a loaded CI machine that lost the fresh lease: a flake).
      proxy.pass();
      const session = await second;
      expect(session.leaseId).not.toBe(lost.leaseId);
      expect(session.done).toBe(false);
    } finally {
      proxy.pass();
      await coord.close();
      await proxy.close();
    }
  });
});
