/**
 * `cron` checker (issue 19). The double-run invariants are the `once` checker's (`ran-again`,
 * `concurrent-run`: a slot's handler never runs again after a recorded success, nor twice at once), over
 * the cron workers' `run` entries whose guarded write landed (the job's effect) and their `once` entries. Plus, from the records each worker read at the end:
 *
 * - `lost-slot`: every second between the oldest and the newest recorded slot (5 s in from each end) has
 *   a record: no slot was lost.
 * - `missed-slot`: no record says `skipped` — with `overlap: 'wait'` and a 30 s catch-up window, a slot is
 *   only skipped when the whole cluster was out of reach longer than that.
 *
 * @module
 */
import { lastFinals, type CheckResult, type HistoryEntry, type Violation } from '../history.js';
import { checkOnce } from './once.js';
import { capPerInvariant, violation } from './util.js';

const R = 'cron';

export function checkCron(entries: readonly HistoryEntry[]): CheckResult {
  // Only runs whose guarded effect landed count: a refused one did nothing (the job guards its write).
  const base = checkOnce(entries.filter((e) => e.op !== 'run' || e.outcome === 'ok'));
  const vs: Violation[] = base.violations.map((v) => ({ ...v, recipe: R }));
  const records = new Map<number, { slot: string; state: string; reason: string; from: HistoryEntry }>();
  for (const final of lastFinals(entries).values()) {
    const slots = (final.details['slots'] ?? []) as [string, string, string][];
    for (const [slot, state, reason] of slots)
      records.set(Date.parse(slot), { slot, state, reason, from: final });
  }
  let lost = 0;
  if (records.size > 0) {
    const times = [...records.keys()].sort((a, b) => a - b);
    const from = times[0]! + 5_000;
    const until = times.at(-1)! - 5_000;
    for (let t = from; t <= until; t += 1_000) {
      if (records.has(t)) continue;
      lost++;
      vs.push(violation(R, 'lost-slot', `slot ${new Date(t).toISOString()} has no record: it never ran`, []));
    }
    for (const r of records.values()) {
      if (r.state !== 'skipped') continue;
      vs.push(violation(R, 'missed-slot', `slot ${r.slot} was recorded skipped (${r.reason})`, [r.from]));
    }
  }
  return {
    recipe: R,
    operations: base.operations,
    violations: capPerInvariant(vs),
    stats: { ...base.stats, recordedSlots: records.size, lostSlots: lost },
  };
}
