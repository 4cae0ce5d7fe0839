/**
 * Breaker b-cron finding: "etcd unreachable at a slot's time: the slot is retried by once() within its
 * deadline, else `failed` here and run by a host that can reach etcd, or caught up later within
 * `catchUpMs`" (schedule() TSDoc). One host (every host behaves the same: all reach the same etcd), the
 * only etcd member paused (SIGSTOP) for ~12 s, catchUpMs 60 s (far more than the outage). After etcd is
 * back, every slot of the outage must be caught up (a `done` record) — or at the very least recorded.
 *
 * Observed: with an 8 s pause 3 of 4 runs failed (5 slots lost each); with 12 s, 3/3.
 * Expected to FAIL on the current code: the slots whose once() gave up while etcd was down get no record
 * at all and are never run (CronJob#run advances `after` past them whatever happened; catch-up is only
 * computed at start-up from the newest record).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, schedule, type CronJob, type Coordinator } from '../../src/index.js';
import { slotTime } from '../../src/cron/slot-id.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

describe("cron: etcd down at slots' times, then back", { timeout: 90_000 }, () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    const m = etcd.cluster.members[0]!;
    if (m.paused) m.resume();
    for (const c of open.splice(0).reverse()) await c.close().catch(() => undefined);
  });

  it('every slot of the outage is caught up within catchUpMs once etcd is back (none lost without a record)', async () => {
    const coord: Coordinator = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('cron-outage'),
      ttlSeconds: 3,
      requestTimeoutMs: 1500,
    });
    open.push(coord);
    const ran: string[] = [];
    const failed: string[] = [];
    const job: CronJob = schedule(
      coord,
      'outage',
      '* * * * * *',
      async ({ slot }) => {
        ran.push(slot);
      },
      { catchUpMs: 60_000, host: 'h0' },
    );
    open.push(job);
    job.on('failed', ({ slot }) => failed.push(slot));
    await sleep(3_000);
    const member = etcd.cluster.members[0]!;
    const pausedAt = Date.now();
    member.pause();
    await sleep(12_000);
    member.resume();
    const resumedAt = Date.now();
    await sleep(10_000);
    await job.close();
    const history = await job.history({ limit: 1000 });
    const bySlot = new Map(history.map((h) => [h.slot, h]));
    // Every second strictly inside the outage (with 1 s margins) is a slot of '* * * * * *'.
    const lost: string[] = [];
    for (let t = Math.ceil((pausedAt + 1000) / 1000) * 1000; t < resumedAt - 1000; t += 1000) {
      const slot = `${new Date(t).toISOString().slice(0, 19)}Z`;
      const h = bySlot.get(slot);
      if (!h || h.state !== 'done') lost.push(`${slot}:${h?.state ?? 'no record'}`);
    }
    expect(slotTime(history[0]!.slot)).toBeGreaterThan(resumedAt); // the schedule went on after the outage
    expect({ lost, failedEvents: failed.length }).toEqual({ lost: [], failedEvents: failed.length });
  });
});
