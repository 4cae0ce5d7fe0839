/**
 * Breaker F5: two (job, slot) pairs must never share one record key. `once('rep/daily', { slot: 'd1' })` and
 * `once('rep', { slot: 'daily/d1' })` both map to `once/rep/daily/d1/`: a slot containing `/` is rejected
 * (InvalidArgumentError naming `slot`, before any request), so the pairs cannot collide.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, once, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('once(): slot names', () => {
  const etcd = useSharedEtcd('once-slot-names');
  const open: Coordinator[] = [];
  const coord = async (): Promise<Coordinator> => {
    const c = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 2 });
    open.push(c);
    return c;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  it('("rep/daily", "d1") runs; ("rep", "daily/d1") is rejected before any request, never skipped as the same slot', async () => {
    const c = await coord();
    const r1 = await once(c, 'rep/daily', { slot: 'd1' }, async () => 'first');
    expect(r1.status).toBe('ran');
    let ran = false;
    const r2 = once(c, 'rep', { slot: 'daily/d1' }, async () => {
      ran = true;
      return 'second';
    });
    await expect(r2).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining('slot'),
    });
    expect(ran).toBe(false);
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}once/rep/`).keys()).not.toContainEqual(
      expect.stringContaining('daily/d1/lock/'),
    );
  });
});
