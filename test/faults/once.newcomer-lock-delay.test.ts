/**
 * Lock-delay for a host that arrives after the slot was lost (the torture campaign's `cli-overlap`
 * finding for `once`, seed 52211: a re-run started 58 ms before the crashed run's child died). The
 * election's lock-delay covers a waiter made first by a lost predecessor; a host that asks for the slot
 * after the lost holder's key is already gone has no predecessor, finds a `running` attempt whose lease is
 * gone, and re-ran the job at once — while the crashed run, whose host's supervisor stops it only by the
 * time the lease could expire, may still be running.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, once, type Coordinator } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

const LOCK_DELAY_MS = 1500;

describe('once(): a newcomer after a lost run waits lockDelayMs', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const coords: Coordinator[] = [];
  afterEach(async () => {
    await Promise.allSettled(coords.splice(0).map((c) => c.close()));
  });

  it('the re-run starts lockDelayMs after the lost holder was revoked, not at once', async () => {
    const namespace = uniquePrefix('once-newcomer');
    const a = await connect({ endpoints: etcd.cluster.endpoints, namespace, ttlSeconds: 2 });
    const b = await connect({ endpoints: etcd.cluster.endpoints, namespace, ttlSeconds: 2 });
    coords.push(a, b);
    let finishA!: () => void;
    const aDone = new Promise<void>((r) => (finishA = r));
    let aStarted = false;
    // A's job ignores its signal (a child that traps SIGTERM) until the test lets it go.
    const runA = once(a, 'job', { slot: 's', lockDelayMs: LOCK_DELAY_MS }, async () => {
      aStarted = true;
      await aDone;
    }).catch((e: unknown) => e);
    await waitFor(() => aStarted, { message: 'A runs the job' });

    // An operator (or the session's own revoke at a declared loss) revokes A's lease: A's slot key goes.
    const admin = etcd.cluster.client();
    const lease = (await a.currentSession()).leaseId;
    await admin.leaseClient.leaseRevoke({ ID: lease.toString() });
    const revokedAt = performance.now();

    // B arrives after the key is gone: no predecessor to wait for.
    let bStartedAt: number | undefined;
    const r = await once(b, 'job', { slot: 's', lockDelayMs: LOCK_DELAY_MS }, () => {
      bStartedAt = performance.now();
      return Promise.resolve('b');
    });
    finishA();
    await runA;
    expect(r.status).toBe('ran');
    expect(bStartedAt).toBeDefined();
    expect(bStartedAt! - revokedAt).toBeGreaterThanOrEqual(LOCK_DELAY_MS);
  }, 30_000);
});
