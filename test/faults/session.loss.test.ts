import { describe, expect, it } from 'vitest';
import { connect } from '../../src/index.js';
import { SessionExpiredError } from '../../src/core/errors.js';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('Session loss is declared in time', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });

  it('blackholed: signal aborts within the TTL of the last acknowledged keepalive, before an observer sees the key deleted', async () => {
    const prefix = uniquePrefix('session-bh');
    const proxy = await FaultProxy.start(etcd.cluster.endpoints[0]!);
    const coord = await connect({
      endpoints: [proxy.endpoint],
      namespace: prefix,
      ttlSeconds: 2,
      requestTimeoutMs: 1000,
    });
    const observer = etcd.cluster.client();
    try {
      const session = await coord.newSession({ ttlSeconds: 2 });
      const key = `${prefix}held`;
      await observer.put(key).value('x').lease(session.leaseId.toString());
      let lastAckAt = performance.now();
      session.on('keepalive', () => (lastAckAt = performance.now()));
      let lostAt: number | undefined;
      let ackBeforeLoss = 0;
      session.once('lost', () => {
        lostAt = performance.now();
        ackBeforeLoss = lastAckAt;
      });
      let deletedAt: number | undefined;
      const watcher = await observer.watch().key(key).create();
      watcher.on('delete', () => (deletedAt ??= performance.now()));
      await waitFor(() => lastAckAt > 0 && session.listenerCount('keepalive') > 0);

      proxy.blackhole();
      await waitFor(() => deletedAt !== undefined, {
        timeoutMs: 15_000,
        message: 'server-side expiry seen by the observer',
      });
      await watcher.cancel();

      expect(lostAt, 'lost fired').toBeDefined();
      expect(session.signal.aborted).toBe(true);
      expect(session.signal.reason).toBeInstanceOf(SessionExpiredError);
      // The invariant itself: declared lost no later than TTL after the last acknowledged keepalive…
      expect(lostAt! - ackBeforeLoss).toBeLessThanOrEqual(session.ttlSeconds * 1000);
      // …and before anyone else could see the lease's keys disappear.
      expect(lostAt!).toBeLessThan(deletedAt!);
    } finally {
      proxy.pass();
      await coord.close();
      await proxy.close();
    }
  });

  it('revoked by another client: the signal aborts at the next keepalive, long before the TTL could run out', async () => {
    const coord = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('session-rv'),
      ttlSeconds: 10,
    });
    try {
      const session = coord.session;
      const lost = new Promise<SessionExpiredError>((resolve) => session.once('lost', resolve));
      const revokedAt = performance.now();
      await etcd.cluster.client().leaseClient.leaseRevoke({ ID: session.leaseId.toString() });
      const err = await lost;
      const afterMs = performance.now() - revokedAt;
      expect(err).toBeInstanceOf(SessionExpiredError);
      expect(session.signal.aborted).toBe(true);
      // Detected by the keepalive (every ≤ 0.5 s), not by waiting out the 10 s TTL.
      expect(afterMs).toBeLessThan(session.ttlSeconds * 1000);
      console.log(`revoke → lost after ${afterMs.toFixed(0)} ms`);
      // The coordinator replaces a lost default session on demand.
      const next = await coord.currentSession();
      expect(next.leaseId).not.toBe(session.leaseId);
      expect(next.done).toBe(false);
    } finally {
      await coord.close();
    }
  });

  it('close() revokes the lease: keys under it disappear at once', async () => {
    const prefix = uniquePrefix('session-close');
    const coord = await connect({ endpoints: etcd.cluster.endpoints, namespace: prefix, ttlSeconds: 30 });
    const admin = etcd.cluster.client();
    const session = await coord.newSession();
    await admin.put(`${prefix}k`).value('v').lease(session.leaseId.toString());
    await session.close();
    await session.close(); // idempotent
    expect(await admin.get(`${prefix}k`).string()).toBeNull();
    expect(session.signal.aborted).toBe(true);
    await coord.close();
  });
});
