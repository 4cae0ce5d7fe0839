/**
 * Counter checker.
 *
 * - `unique`: no two acknowledged `increment()`s returned the same value.
 * - `gap-free`: every value in 1..final was returned by an acknowledged increment, except at most as many
 *   as there were increments of unknown outcome (they may have taken them).
 * - `counter-final` / `atomic-bound`: acks ≤ final ≤ acks + unknown, for both counters; acknowledged
 *   `add(1)` results are distinct too.
 *
 * @module
 */
import type { CheckResult, FinalState, HistoryEntry, Violation } from '../history.js';
import { byOp, capPerInvariant, countOutcomes, str, violation } from './util.js';

const R = 'counter';

export function checkCounter(
  entries: readonly HistoryEntry[],
  final: Pick<FinalState, 'counter' | 'atomicCounter'>,
): CheckResult {
  const vs: Violation[] = [];
  for (const [op, finalValue, label] of [
    ['increment', final.counter, 'counter'],
    ['add', final.atomicCounter, 'atomic'],
  ] as const) {
    const ops = byOp(entries, op);
    const ok = ops.filter((e) => e.outcome === 'ok');
    const counts = countOutcomes(ops);
    const seen = new Map<string, HistoryEntry>();
    for (const e of ok) {
      const v = str(e, 'value');
      const other = seen.get(v);
      if (other !== undefined)
        vs.push(violation(R, 'unique', `${label}: value ${v} returned twice`, [other, e]));
      else seen.set(v, e);
    }
    if (op === 'increment') {
      let missing = 0;
      for (let v = 1; v <= finalValue; v++) if (!seen.has(String(v))) missing++;
      if (missing > counts.unknown) {
        vs.push(
          violation(
            R,
            'gap-free',
            `${missing} value(s) in 1..${finalValue} never returned, only ${counts.unknown} unknown`,
            [],
          ),
        );
      }
      const beyond = ok.filter((e) => Number(str(e, 'value')) > finalValue);
      if (beyond.length > 0)
        vs.push(violation(R, 'gap-free', `values above the final ${finalValue} returned`, beyond));
    }
    if (finalValue < counts.ok || finalValue > counts.ok + counts.unknown) {
      vs.push(
        violation(
          R,
          op === 'increment' ? 'counter-final' : 'atomic-bound',
          `${label}: final ${finalValue} outside [${counts.ok}, ${counts.ok + counts.unknown}]`,
          [],
        ),
      );
    }
  }
  const inc = countOutcomes(byOp(entries, 'increment'));
  const add = countOutcomes(byOp(entries, 'add'));
  return {
    recipe: R,
    operations: entries.length,
    violations: capPerInvariant(vs),
    stats: {
      increments: inc.ok,
      incUnknown: inc.unknown,
      adds: add.ok,
      addUnknown: add.unknown,
      counter: final.counter,
      atomic: final.atomicCounter,
    },
  };
}
