/** Cron slot identity and planning (issue 19): pure, no etcd. DST in a timezone that has it. */
import { Cron } from 'croner';
import { describe, expect, it } from 'vitest';
import { planSlots } from '../../src/cron/plan.js';
import { slotId, slotTime } from '../../src/cron/slot-id.js';

function runs(expr: string, tz: string, from: string, n: number): string[] {
  const c = new Cron(expr, { paused: true, timezone: tz });
  return c.nextRuns(n, new Date(from)).map((d) => slotId(d, tz));
}

describe('cron slots', () => {
  it('a slot is named by its scheduled time in the timezone, with the offset', () => {
    expect(slotId(new Date('2026-12-06T10:00:02.000Z'), 'UTC')).toBe('2026-12-06T10:00:02Z');
    expect(slotId(new Date('2026-12-06T10:00:02.000Z'), 'Europe/Berlin')).toBe('2026-12-06T11:00:02+01:00');
    expect(slotId(new Date('2026-07-01T00:00:00Z'), 'Asia/Kolkata')).toBe('2026-07-01T05:30:00+05:30');
    expect(slotTime('2026-12-06T11:00:02+01:00')).toBe(Date.parse('2026-12-06T10:00:02Z'));
  });

  it('spring forward (Europe/Berlin, 2026-03-29): 02:30 does not exist and runs once, at 03:00 CEST', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2026-03-28T00:00:00Z', 3)).toEqual([
      '2026-03-28T02:30:00+01:00',
      '2026-03-29T03:00:00+02:00',
      '2026-03-30T02:30:00+02:00',
    ]);
  });

  it('fall back (Europe/Berlin, 2026-10-25): 02:30 exists twice and runs once; hourly slots there stay distinct', () => {
    expect(runs('30 2 * * *', 'Europe/Berlin', '2026-10-24T00:00:00Z', 3)).toEqual([
      '2026-10-24T02:30:00+02:00',
      '2026-10-25T02:30:00+02:00',
      '2026-10-26T02:30:00+01:00',
    ]);
    const hourly = runs('0 * * * *', 'Europe/Berlin', '2026-10-24T23:30:00Z', 4);
    expect(new Set(hourly).size).toBe(4);
    expect(hourly.map(slotTime)).toEqual([...hourly.map(slotTime)].sort((a, b) => a - b));
  });

  it('every slot id is a distinct instant (hourly Berlin slots across the fall-back month)', () => {
    const ids = runs('0 * * * *', 'Europe/Berlin', '2026-10-01T00:00:00Z', 24 * 45);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.map(slotTime)).size).toBe(ids.length);
  });

  it('plan: slots older than the window are missed, newer are due; the window is at least jitter + grace', () => {
    const every = (step: number) => (after: number, until: number) => {
      const out: number[] = [];
      for (let t = Math.floor(after / step) * step + step; t <= until; t += step) out.push(t);
      return out;
    };
    const plan = planSlots(every(1000), {
      now: 20_000,
      after: 5_000,
      catchUpMs: 6_000,
      jitterMs: 0,
      graceMs: 2_000,
      maxMissed: 100,
    });
    expect(plan.due).toEqual([15_000, 16_000, 17_000, 18_000, 19_000, 20_000]);
    expect(plan.missed).toEqual([6_000, 7_000, 8_000, 9_000, 10_000, 11_000, 12_000, 13_000, 14_000]);
    // No catch-up, but a 3 s jitter: the last 3 s + grace are still due (another host may be starting them).
    const jittered = planSlots(every(1000), {
      now: 20_000,
      after: 5_000,
      catchUpMs: 0,
      jitterMs: 3_000,
      graceMs: 2_000,
      maxMissed: 3,
    });
    expect(jittered.due).toEqual([16_000, 17_000, 18_000, 19_000, 20_000]);
    expect(jittered.missed).toEqual([13_000, 14_000, 15_000]);
  });
});
