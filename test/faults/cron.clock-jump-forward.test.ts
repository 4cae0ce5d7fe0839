/**
 * Breaker b-cron finding (failure class 3, "time is not what you think"): a host whose clock steps forward
 * (NTP step, VM resume; injected with the documented `clock` option) records slots as `skipped`
 * ("missed: outside the catch-up window") that have not even come due yet for the other hosts — nor for
 * etcd, nor by the record's own `start` timestamp. Those slots are then skipped by every host: a correct
 * host never runs them. Contract (schedule() TSDoc): every slot runs once across the hosts; a slot is
 * "missed" only when it is older than the catch-up window (an outage), and the slot id comes from the
 * expression, never from the local clock.
 *
 * Expected to FAIL on the current code: host B's plan after the jump (CronJob#run → planSlots with
 * now = B's clock) marks ~25 future slots missed and once() writes their `skipped` records.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, schedule, type Coordinator } from '../../src/index.js';
import { slotTime } from '../../src/cron/slot-id.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

describe("cron: one host's clock steps forward 30 s", { timeout: 90_000 }, () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close().catch(() => undefined);
  });

  it('a correct host still runs every slot; none is recorded missed before its scheduled time', async () => {
    const namespace = uniquePrefix('cron-jump');
    const a: Coordinator = await connect({ endpoints: etcd.cluster.endpoints, namespace, ttlSeconds: 3 });
    open.push(a);
    const b: Coordinator = await connect({ endpoints: etcd.cluster.endpoints, namespace, ttlSeconds: 3 });
    open.push(b);
    const ran: { slot: string; host: string; at: number }[] = [];
    const fn =
      (host: string) =>
      async ({ slot }: { slot: string }) => {
        ran.push({ slot, host, at: Date.now() });
      };
    let offset = 0;
    const jobA = schedule(a, 'jump', '* * * * * *', fn('A'), { host: 'A' });
    open.push(jobA);
    const jobB = schedule(b, 'jump', '* * * * * *', fn('B'), { host: 'B', clock: () => Date.now() + offset });
    open.push(jobB);
    await sleep(3_000);
    const jumpedAt = Date.now();
    offset = 30_000; // B's clock steps forward 30 s
    await sleep(25_000);
    await Promise.all([jobA.close(), jobB.close()]);
    const history = await jobA.history({ limit: 1000 });
    // Slots whose time (real) is 3..20 s after the jump: A was up and running for every one of them.
    const inRange = history.filter(
      (h) => slotTime(h.slot) >= jumpedAt + 3_000 && slotTime(h.slot) <= jumpedAt + 20_000,
    );
    const premature = inRange
      .filter((h) => h.state === 'skipped' && Date.parse(h.record.start) < slotTime(h.slot))
      .map((h) => `${h.slot} skipped (${h.reason ?? ''}) by ${h.host} at ${h.record.start}`);
    expect(inRange.length).toBeGreaterThanOrEqual(17);
    expect(premature).toEqual([]);
    expect(inRange.filter((h) => h.state !== 'done').map((h) => `${h.slot}:${h.state}`)).toEqual([]);
  });
});
