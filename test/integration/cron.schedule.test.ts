/**
 * schedule() (issue 19): every slot of a per-second expression runs exactly once across hosts with skewed
 * clocks; an outage's slots are caught up within the window (oldest first) and recorded missed outside it;
 * bad input is named. Hosts are separate coordinators (own connections, sessions and clocks) in one process.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, schedule, type CronJob, type Coordinator } from '../../src/index.js';
import { slotTime } from '../../src/cron/slot-id.js';
import { useSharedEtcd } from '../support/shared.js';

interface Run {
  slot: string;
  host: string;
  start: number;
  end: number;
}

/** Checker: no slot ran twice. Returns the duplicated slots. */
export function doubleRuns(runs: Run[]): string[] {
  const seen = new Map<string, number>();
  for (const r of runs) seen.set(r.slot, (seen.get(r.slot) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([s]) => s);
}

describe('schedule(): a distributed cron', { timeout: 90_000 }, () => {
  const etcd = useSharedEtcd('cron-schedule');
  const coords: Coordinator[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 4; i++)
      coords.push(await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 }));
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });

  it('the no-double-run checker fires on a doubled slot (negative control)', () => {
    const r = (slot: string, host: string): Run => ({ slot, host, start: 0, end: 0 });
    expect(doubleRuns([r('a', 'h0'), r('b', 'h1')])).toEqual([]);
    expect(doubleRuns([r('a', 'h0'), r('a', 'h1')])).toEqual(['a']);
  });

  it('4 hosts with clocks skewed by ±1.5 s: over 30 slots each ran exactly once, and its record names that host', async () => {
    const runs: Run[] = [];
    const skews = [-1500, -500, 500, 1500];
    const jobs: CronJob[] = coords.map((c, i) =>
      schedule(
        c,
        'skewed',
        '* * * * * *',
        async ({ slot }) => {
          const start = Date.now();
          await sleep(50);
          runs.push({ slot, host: `h${i}`, start, end: Date.now() });
        },
        { host: `h${i}`, clock: () => Date.now() + skews[i]! },
      ),
    );
    const from = Date.now() + 2_000;
    await sleep(33_000);
    await Promise.all(jobs.map((j) => j.close()));
    const until = from + 30_000;
    expect(doubleRuns(runs)).toEqual([]);
    const history = await jobs[0]!.history({ limit: 1000 });
    const inRange = history.filter((h) => slotTime(h.slot) >= from && slotTime(h.slot) < until);
    // Every second in the range is a slot, and each one was run (not skipped, not lost).
    expect(inRange.length).toBe(30);
    for (const h of inRange) {
      expect(h.state, h.slot).toBe('done');
      const ran = runs.filter((r) => r.slot === h.slot);
      expect(ran.length, h.slot).toBe(1);
      expect(h.host).toBe(ran[0]!.host);
    }
  });

  it('outage: slots within catchUpMs run once each, oldest first; older ones are recorded missed, not run', async () => {
    const ran: string[] = [];
    const fn = async ({ slot }: { slot: string }) => {
      ran.push(slot);
    };
    const first = schedule(coords[0]!, 'outage', '* * * * * *', fn, { catchUpMs: 6_000 });
    await sleep(2_500);
    await first.close();
    const stoppedAt = Date.now();
    await sleep(12_000); // every host down for ~12 slots
    const before = ran.length;
    const again = coords
      .slice(0, 2)
      .map((c, i) => schedule(c, 'outage', '* * * * * *', fn, { catchUpMs: 6_000, host: `back${i}` }));
    // Time for the catch-up to drain on a loaded CI machine (each slot is a campaign, a lease and a record).
    await sleep(6_000);
    await Promise.all(again.map((j) => j.close()));
    const history = await again[0]!.history({ limit: 1000 });
    const during = history.filter(
      (h) => slotTime(h.slot) > stoppedAt && slotTime(h.slot) < stoppedAt + 12_000,
    );
    const missed = during.filter((h) => h.state === 'skipped');
    const caughtUp = during.filter((h) => h.state === 'done');
    expect(missed.length + caughtUp.length).toBe(during.length);
    expect(missed.length).toBeGreaterThanOrEqual(4);
    expect(caughtUp.length).toBeGreaterThanOrEqual(4);
    for (const h of missed) expect(h.reason).toMatch(/missed/);
    // Missed ones are the older ones, and the caught-up ones ran oldest first.
    const newestMissed = Math.max(...missed.map((h) => slotTime(h.slot)));
    expect(Math.min(...caughtUp.map((h) => slotTime(h.slot)))).toBeGreaterThan(newestMissed);
    const afterRestart = ran.slice(before);
    expect(afterRestart.map(slotTime)).toEqual([...afterRestart.map(slotTime)].sort((a, b) => a - b));
    expect(doubleRuns(ran.map((slot) => ({ slot, host: '', start: 0, end: 0 })))).toEqual([]);
    for (const h of missed) expect(ran).not.toContain(h.slot);
  });

  it('bad input is named, before any request', () => {
    const c = coords[0]!;
    const fn = async () => undefined;
    expect(() => schedule(c, '', '* * * * *', fn)).toThrow(/`name`/);
    expect(() => schedule(c, 'j', 'not a cron', fn)).toThrow(/`expression`/);
    expect(() => schedule(c, 'j', '* * * * *', 'x' as never)).toThrow(/`fn`/);
    expect(() => schedule(c, 'j', '* * * * *', fn, { timezone: 'Mars/Olympus' })).toThrow(/`timezone`/);
    expect(() => schedule(c, 'j', '* * * * *', fn, { overlap: 'never' as never })).toThrow(/`overlap`/);
    expect(() => schedule(c, 'j', '* * * * *', fn, { catchUpMs: -1 })).toThrow(/`catchUpMs`/);
    expect(() => schedule(c, 'j', '* * * * *', fn, { catchUpMs: 60_000, retainMs: 1_000 })).toThrow(
      /`retainMs`/,
    );
  });
});
