/**
 * Issue 24: a lost lock says how it was lost. An operator's `etcdctl lease revoke` (the key goes with its
 * lease) and an operator's `etcdctl del` of the key (the lease lives on) are different repairs; the
 * message names which one happened instead of "deleted by someone else" for both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, LockLostError, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

/** Resolves with the abort reason of `signal`. */
const lostWith = (signal: AbortSignal): Promise<unknown> =>
  new Promise((resolve) => {
    if (signal.aborted) resolve(signal.reason);
    else signal.addEventListener('abort', () => resolve(signal.reason), { once: true });
  });

describe('a lost lock names the cause', () => {
  const etcd = useSharedEtcd('mutex-loss-reason');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('the key deleted while the lease lives: "deleted by someone else (its lease … is still alive)"', async () => {
    const lock = await coord.mutex('del').lock();
    await etcd.admin.delete().key(lock.etcdKey.toString());
    const reason = await lostWith(lock.signal);
    expect(reason).toBeInstanceOf(LockLostError);
    expect((reason as Error).message).toMatch(
      /deleted by someone else \(its lease [0-9a-f]+ is still alive\)/,
    );
  });

  it('the lease revoked: "the lock\'s lease … was revoked or expired"', async () => {
    const other = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix });
    try {
      const lock = await other.mutex('revoke').lock();
      await etcd.admin.leaseClient.leaseRevoke({ ID: lock.leaseId.toString() });
      const reason = await lostWith(lock.signal);
      expect(reason).toBeInstanceOf(LockLostError);
      expect((reason as Error).message).toMatch(/lease [0-9a-f]+ was revoked or expired/);
    } finally {
      await other.close();
    }
  });
});
