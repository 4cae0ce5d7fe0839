/**
 * `once` checker (issue 14). Each slot's handler runs are recorded as `run` entries, each `once()`
 * call as a `once` entry.
 *
 * - `ran-again`: no handler of a slot starts after a handler of that slot had returned successfully —
 *   except when that successful run's own `once()` call then failed (its done record may not have been
 *   written: the one documented at-least-once window, counted in `allowedReruns`).
 * - `concurrent-run`: no two handlers of one slot run at the same time (different workers or callers),
 *   unless the earlier one's signal had aborted before the later one started.
 *
 * @module
 */
import type { CheckResult, HistoryEntry, Violation } from '../history.js';
import { overlaps } from './exclusive.js';
import { actor, byOp, capPerInvariant, CLOCK_SLACK_MS, countOutcomes, str, violation } from './util.js';

const R = 'once';

export function checkOnce(entries: readonly HistoryEntry[]): CheckResult {
  const vs: Violation[] = [];
  const runs = byOp(entries, 'run');
  const calls = byOp(entries, 'once');
  const bySlot = new Map<string, HistoryEntry[]>();
  for (const r of runs) bySlot.set(str(r, 'slot'), [...(bySlot.get(str(r, 'slot')) ?? []), r]);
  let allowedReruns = 0;
  for (const [slot, slotRuns] of bySlot) {
    const done = slotRuns.filter((r) => r.outcome === 'ok').sort((a, b) => a.end - b.end);
    const first = done[0];
    if (first !== undefined) {
      // The call that ran `first`: same actor and slot, ending after the handler did.
      const call = calls.find(
        (c) => actor(c) === actor(first) && str(c, 'slot') === slot && c.end >= first.end - CLOCK_SLACK_MS,
      );
      const recorded = call?.outcome === 'ok';
      for (const again of slotRuns) {
        if (again === first || again.start <= first.end + CLOCK_SLACK_MS) continue;
        if (!recorded) {
          allowedReruns++;
          continue;
        }
        vs.push(
          violation(
            R,
            'ran-again',
            `slot ${slot}: the handler succeeded in ${actor(first)} and ran again in ${actor(again)} ${Math.round(again.start - first.end)} ms later`,
            [first, ...(call ? [call] : []), again],
          ),
        );
      }
    }
    vs.push(
      ...overlaps(
        R,
        'concurrent-run',
        slotRuns,
        (a, b) => `slot ${slot}: ${actor(a)} and ${actor(b)} ran the handler at the same time`,
      ),
    );
  }
  const c = countOutcomes(calls);
  return {
    recipe: R,
    operations: entries.length,
    violations: capPerInvariant(vs),
    stats: {
      slots: bySlot.size,
      runs: runs.filter((r) => r.outcome === 'ok').length,
      runsLost: runs.filter((r) => r.outcome !== 'ok').length,
      skipped: calls.filter((e) => e.details['status'] === 'skipped').length,
      callsFailed: c.failed + c.unknown,
      allowedReruns,
    },
  };
}
