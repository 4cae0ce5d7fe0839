/**
 * A yearly schedule's next slot is further away than setTimeout can wait (2^31 - 1 ms ≈ 24.8 days); Node
 * turns such a timer into 1 ms, and the cron loop then ran the slots of future years at once (found by the
 * api.deadlines table: a '0 0 1 1 *' schedule flooded etcd with once() calls and its sessions expired).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, schedule, type Coordinator } from '../../src/index.js';
import { useSharedEtcd } from '../support/shared.js';

describe('cron: a slot further away than a timer can wait', () => {
  const etcd = useSharedEtcd('cron-far');
  let coord: Coordinator;
  beforeAll(async () => {
    coord = await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix });
  });
  afterAll(async () => {
    await coord.close();
  });

  it('a yearly schedule runs nothing before its slot, and writes no record', async () => {
    const ran: string[] = [];
    const job = schedule(coord, 'yearly', '0 0 1 1 *', async ({ slot }) => {
      ran.push(slot);
    });
    const failed: string[] = [];
    job.on('failed', ({ slot }) => failed.push(slot));
    await sleep(2_000);
    await job.close();
    expect(ran).toEqual([]);
    expect(failed).toEqual([]);
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}once/yearly/`).keys()).toEqual([]);
  });
});
