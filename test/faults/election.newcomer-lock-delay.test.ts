/**
 * Lock-delay for a candidate that arrives after the leader was lost (issue 14 f1 for `elect`, the same
 * hole as the torture campaign's `cli-overlap` for `once`): the election's lock-delay only reached a
 * waiter queued behind the lost leader. A candidate that campaigns after the lost leader's key is already
 * gone (its lease revoked at the declared loss, or by an operator) was elected at once, while the lost
 * leader's child could still run. A clean resign still hands over at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

const LOCK_DELAY_MS = 1500;

describe('election: a newcomer after a lost leader waits lockDelayMs', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const coords: Coordinator[] = [];
  afterEach(async () => {
    await Promise.allSettled(coords.splice(0).map((c) => c.close()));
  });

  async function two(): Promise<[Coordinator, Coordinator]> {
    const namespace = uniquePrefix('el-newcomer');
    const a = await connect({ endpoints: etcd.cluster.endpoints, namespace, ttlSeconds: 2 });
    const b = await connect({ endpoints: etcd.cluster.endpoints, namespace, ttlSeconds: 2 });
    coords.push(a, b);
    return [a, b];
  }

  it('elected lockDelayMs after the lost leader was revoked, not at once', async () => {
    const [a, b] = await two();
    await a.election('svc', { lockDelayMs: LOCK_DELAY_MS }).campaign('a');
    const admin = etcd.cluster.client();
    await admin.leaseClient.leaseRevoke({ ID: (await a.currentSession()).leaseId.toString() });
    const revokedAt = performance.now();
    const next = await b.election('svc', { lockDelayMs: LOCK_DELAY_MS }).campaign('b');
    expect(performance.now() - revokedAt).toBeGreaterThanOrEqual(LOCK_DELAY_MS);
    await next.resign();
  }, 30_000);

  it('control: after a clean resign the newcomer is elected at once', async () => {
    const [a, b] = await two();
    const term = await a.election('svc', { lockDelayMs: LOCK_DELAY_MS }).campaign('a');
    await term.resign();
    const resignedAt = performance.now();
    const next = await b.election('svc', { lockDelayMs: LOCK_DELAY_MS }).campaign('b');
    expect(performance.now() - resignedAt).toBeLessThan(LOCK_DELAY_MS);
    await next.resign();
  }, 30_000);
});
