/**
 * Breaker b-cron finding: schedule() TSDoc — "at start-up a host looks at the job's newest record; slots
 * after it that are older than `catchUpMs` … are recorded `skipped` ("missed", at most the newest 100), the
 * rest run once each, oldest first." With a per-second job, catchUpMs 25 min and an outage of 20 min (every
 * host down; simulated with the documented `clock` option on the host that comes back: its clock reads
 * 20 min after the newest record), all 1200 slots of the outage lie within catchUpMs, so each must run —
 * or at the very least be recorded. Expected to FAIL on the current code: only the newest 1000 are run
 * (MAX_DUE in src/cron/schedule.ts: `plan.due.slice(-MAX_DUE)`, and `#runsBetween` lists only the newest
 * MAX_DUE + MAX_MISSED times); the ~200 oldest slots get no record and are never run, and nothing says so.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, schedule, type Coordinator } from '../../src/index.js';
import { slotTime } from '../../src/cron/slot-id.js';
import { uniquePrefix, usePrivateEtcd } from '../support/shared.js';

const OUTAGE_MS = 1_200_000;

describe('cron: a 20-minute outage caught up within a 25-minute catchUpMs', { timeout: 240_000 }, () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const c of open.splice(0).reverse()) await c.close().catch(() => undefined);
  });

  it('every slot of the outage is run (oldest first) or recorded; none silently dropped', async () => {
    const coord: Coordinator = await connect({
      endpoints: etcd.cluster.endpoints,
      namespace: uniquePrefix('cron-maxdue'),
      ttlSeconds: 5,
    });
    open.push(coord);
    const first = schedule(coord, 'big', '* * * * * *', async () => undefined, { host: 'before' });
    await sleep(2_500);
    await first.close();
    const newest = slotTime((await first.history({ limit: 1 }))[0]!.slot);
    const ran: string[] = [];
    const job = schedule(
      coord,
      'big',
      '* * * * * *',
      async ({ slot }) => {
        ran.push(slot);
      },
      { host: 'after', catchUpMs: 1_500_000, clock: () => Date.now() + OUTAGE_MS },
    );
    open.push(job);
    // Wait for the catch-up to drain (runs stop growing by more than the live rate).
    let last = -1;
    for (let i = 0; i < 200 && ran.length !== last; i++) {
      last = ran.length;
      await sleep(3_000);
      if (ran.length - last <= 4 && ran.length > 500) break;
    }
    await job.close();
    const history = await job.history({ limit: 5_000 });
    const bySlot = new Set(history.map((h) => h.slot));
    const absent: string[] = [];
    for (let t = newest + 1000; t <= newest + OUTAGE_MS - 10_000; t += 1000) {
      const slot = `${new Date(t).toISOString().slice(0, 19)}Z`;
      if (!bySlot.has(slot)) absent.push(slot);
    }
    expect(ran.length).toBeGreaterThan(900);
    expect({ absent: absent.length, first: absent.slice(0, 3) }).toEqual({ absent: 0, first: [] });
  });
});
