/**
 * Found by the breaker (issue 25): right after an operator revoked the default session's lease (every
 * handle already reports the loss), a fresh lock() rejected at once with SessionExpiredError "the lease
 * no longer exists" — the keepalive had not noticed yet, so the dead session was handed out again. Now
 * etcd's "lease not found" declares the session lost and the call runs once more on a new one. The same
 * path serves RW locks and semaphores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Coordinator, type Lock } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

describe('a fresh lock after the default lease was revoked is granted on a new session', () => {
  const etcd = useSharedEtcd('mutex-relock');
  let coord: Coordinator;
  beforeAll(async () => {
    // A long TTL: the keepalive's own discovery of the revoke is not what this test waits for.
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 10 });
  });
  afterAll(async () => {
    await coord.close();
  });

  const kinds: [string, (name: string) => Promise<Lock>][] = [
    ['mutex', (n) => coord.mutex(n).lock({ timeoutMs: 4000 })],
    ['rwMutex write', (n) => coord.rwMutex(n).writeLock({ timeoutMs: 4000 })],
    ['semaphore', (n) => coord.semaphore(n, 2).acquire({ timeoutMs: 4000 })],
  ];
  for (const [kind, take] of kinds) {
    it(kind, async () => {
      const name = `r-${kind.replace(/ /g, '-')}`;
      const first = await take(name);
      // Revoke; the holder's key watch sees the loss (often before the keepalive does); a caller that had
      // queued behind it in this process would get SESSION_EXPIRED (mutex.same-session-loss), so unlock first.
      await etcd.admin.leaseClient.leaseRevoke({ ID: first.leaseId.toString() });
      await waitFor(() => !first.held, { message: 'the old handle sees the loss' });
      await first.unlock().catch(() => undefined);
      const again = await take(name);
      expect(again.held).toBe(true);
      expect(again.leaseId).not.toBe(first.leaseId);
      await again.unlock();
    });
  }

  it("an explicit session is the caller's: its revoked lease is reported, not replaced", async () => {
    const session = await coord.newSession({ ttlSeconds: 10 });
    const m = coord.mutex('explicit', { session });
    await etcd.admin.leaseClient.leaseRevoke({ ID: session.leaseId.toString() });
    await expect(m.lock({ timeoutMs: 2000 })).rejects.toMatchObject({ code: 'SESSION_EXPIRED' });
    await session.close();
  });
});
