/**
 * Issue 14 f1 (library part): lock-delay for elections and once(). A candidate that becomes first because
 * the previous leader's lease expired or was revoked waits `lockDelayMs` before it is elected, so whatever
 * the old leader was still doing has time to stop; a clean resign hands over at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, once, type Coordinator } from '../../src/index.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';

const DELAY = 1500;

describe('election: lock-delay', () => {
  const etcd = useSharedEtcd('election-lock-delay');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  const count = async (prefix: string) => etcd.admin.getAll().prefix(`${etcd.prefix}${prefix}`).count();
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it("the leader's lease is revoked: the next candidate is elected only lockDelayMs after", async () => {
    const [a, b] = [await coord(), await coord()];
    await a.election('d1').campaign('a');
    let electedAt = 0;
    const next = b
      .election('d1', { lockDelayMs: DELAY })
      .campaign('b')
      .then((t) => ((electedAt = performance.now()), t));
    await waitFor(async () => (await count('d1/')) === 2);
    const revokedAt = performance.now();
    await etcd.admin.leaseClient.leaseRevoke({ ID: a.session.leaseId.toString() });
    const t = await next;
    expect(electedAt - revokedAt).toBeGreaterThanOrEqual(DELAY);
    await t.resign();
  });

  it('a clean resign hands over at once, whatever lockDelayMs', async () => {
    const [a, b] = [await coord(), await coord()];
    const term = await a.election('d2', { lockDelayMs: 5000 }).campaign('a');
    let electedAt = 0;
    const next = b
      .election('d2', { lockDelayMs: 5000 })
      .campaign('b')
      .then((t) => ((electedAt = performance.now()), t));
    await waitFor(async () => (await count('d2/')) === 2);
    const resignedAt = performance.now();
    await term.resign();
    const t = await next;
    expect(electedAt - resignedAt).toBeLessThan(5000);
    await t.resign();
  });

  it('without lockDelayMs the resign writes no marker (nothing outside <name>/), so a delaying waiter counts it as a loss', async () => {
    const [a, b] = [await coord(), await coord()];
    const term = await a.election('d5').campaign('a');
    let electedAt = 0;
    const next = b
      .election('d5', { lockDelayMs: DELAY })
      .campaign('b')
      .then((t) => ((electedAt = performance.now()), t));
    await waitFor(async () => (await count('d5/')) === 2);
    const resignedAt = performance.now();
    await term.resign();
    expect(await count('d5\0')).toBe(0);
    const t = await next;
    expect(electedAt - resignedAt).toBeGreaterThanOrEqual(DELAY);
    await t.resign(); // b has lockDelayMs: its resign does write the marker
    expect(await count('d5\0released')).toBe(1);
  });

  it('a leader key deleted by someone else counts as a loss, not a clean resign: the delay applies', async () => {
    const [a, b] = [await coord(), await coord()];
    const term = await a.election('d3').campaign('a');
    let electedAt = 0;
    const next = b
      .election('d3', { lockDelayMs: DELAY })
      .campaign('b')
      .then((t) => ((electedAt = performance.now()), t));
    await waitFor(async () => (await count('d3/')) === 2);
    const deletedAt = performance.now();
    await etcd.admin.delete().key(`${etcd.prefix}${term.key}`);
    const t = await next;
    expect(electedAt - deletedAt).toBeGreaterThanOrEqual(DELAY);
    await t.resign();
  });

  it('once(): a holder whose lease is revoked mid-job is re-run only lockDelayMs after', async () => {
    const [a, b] = [await coord(), await coord()];
    const first = once(a, 'nightly', { slot: 's' }, () => new Promise<never>(() => undefined));
    first.catch(() => undefined);
    await waitFor(async () => (await count('once/nightly/s/record')) === 1);
    let startedAt = 0;
    const second = once(b, 'nightly', { slot: 's', lockDelayMs: DELAY }, async () => {
      startedAt = performance.now();
      return 'b';
    });
    await waitFor(async () => (await count('once/nightly/s/lock/')) === 2);
    const revokedAt = performance.now();
    await etcd.admin.leaseClient.leaseRevoke({ ID: a.session.leaseId.toString() });
    expect(await second).toMatchObject({ status: 'ran', value: 'b' });
    expect(startedAt - revokedAt).toBeGreaterThanOrEqual(DELAY);
  });

  it('lockDelayMs is validated before any request', async () => {
    const c = await coord();
    expect(() => c.election('d4', { lockDelayMs: -1 })).toThrow(/lockDelayMs/);
    await expect(once(c, 'j', { slot: 's', lockDelayMs: Number.NaN }, async () => 1)).rejects.toThrow(
      /lockDelayMs/,
    );
    await sleep(0);
  });
});
