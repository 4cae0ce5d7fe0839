/**
 * schedule() overlap policies (issue 19): a job that runs longer than its interval, on two hosts. `skip`
 * records the slots that came due meanwhile as skipped; `wait` runs them after, in order; `cancel-previous`
 * aborts the running job's signal and runs the newer slot. Under every policy two runs never overlap.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, schedule, type Coordinator, type OverlapPolicy } from '../../src/index.js';
import { slotTime } from '../../src/cron/slot-id.js';
import { useSharedEtcd } from '../support/shared.js';

interface Run {
  slot: string;
  start: number;
  end: number;
  aborted: boolean;
}

/** Checker: pairs of runs whose [start, end) intervals intersect. */
export function overlaps(runs: Run[]): [string, string][] {
  const out: [string, string][] = [];
  for (const a of runs)
    for (const b of runs)
      if (a.slot < b.slot && a.start < b.end && b.start < a.end) out.push([a.slot, b.slot]);
  return out;
}

describe('schedule(): overlap policies', { timeout: 60_000 }, () => {
  const etcd = useSharedEtcd('cron-overlap');
  const coords: Coordinator[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 2; i++)
      coords.push(await connect({ endpoints: etcd.endpoints, namespace: etcd.prefix, ttlSeconds: 5 }));
  });
  afterAll(async () => {
    await Promise.all(coords.map((c) => c.close()));
  });

  it('the overlap checker fires on intersecting runs (negative control)', () => {
    expect(
      overlaps([
        { slot: 'a', start: 0, end: 10, aborted: false },
        { slot: 'b', start: 10, end: 20, aborted: false },
      ]),
    ).toEqual([]);
    expect(
      overlaps([
        { slot: 'a', start: 0, end: 11, aborted: false },
        { slot: 'b', start: 10, end: 20, aborted: false },
      ]),
    ).toEqual([['a', 'b']]);
  });

  async function runPolicy(overlap: OverlapPolicy, jobMs: number, forMs: number) {
    const job = `ov-${overlap}`;
    const runs: Run[] = [];
    const jobs = coords.map((c, i) =>
      schedule(
        c,
        job,
        '*/2 * * * * *',
        async ({ slot, signal }) => {
          const start = performance.now();
          await sleep(jobMs, undefined, { signal }).catch(() => undefined);
          runs.push({ slot, start, end: performance.now(), aborted: signal.aborted });
          signal.throwIfAborted();
        },
        { overlap, host: `h${i}` },
      ),
    );
    await sleep(forMs);
    await Promise.all(jobs.map((j) => j.close()));
    const history = (await jobs[0]!.history({ limit: 100 })).sort(
      (a, b) => slotTime(a.slot) - slotTime(b.slot),
    );
    return { runs, history };
  }

  it('skip: slots that come due while the 5 s job runs are recorded skipped (overlap), never run', async () => {
    const { runs, history } = await runPolicy('skip', 5_000, 15_000);
    expect(overlaps(runs)).toEqual([]);
    const skipped = history.filter((h) => h.state === 'skipped');
    expect(skipped.length).toBeGreaterThanOrEqual(1);
    for (const h of skipped) {
      expect(h.reason).toMatch(/overlap/);
      expect(runs.map((r) => r.slot)).not.toContain(h.slot);
    }
    expect(history.filter((h) => h.state === 'done').length).toBeGreaterThanOrEqual(1);
  });

  it('wait: the slots run one after the other, in slot order, none skipped', async () => {
    const { runs, history } = await runPolicy('wait', 3_000, 11_000);
    expect(overlaps(runs)).toEqual([]);
    expect(history.filter((h) => h.state === 'skipped')).toEqual([]);
    const order = [...runs].sort((a, b) => a.start - b.start).map((r) => slotTime(r.slot));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(runs.length).toBeGreaterThanOrEqual(3);
  });

  it('cancel-previous: a newer slot aborts the running job, which stops before the newer one starts', async () => {
    const { runs, history } = await runPolicy('cancel-previous', 30_000, 9_000);
    expect(overlaps(runs)).toEqual([]);
    const sorted = [...runs].sort((a, b) => a.start - b.start);
    expect(sorted.length).toBeGreaterThanOrEqual(3);
    // Every run but the last was cancelled by the next slot (the last by close()).
    for (const r of sorted) expect(r.aborted, r.slot).toBe(true);
    const cancelled = history.filter((h) => h.outcome === 'error');
    expect(cancelled.length).toBeGreaterThanOrEqual(2);
    for (const h of cancelled) expect(h.reason).toMatch(/cancelled by a newer slot/);
  });
});
