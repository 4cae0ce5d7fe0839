/**
 * Store epochs: a `wipe-cluster` fault loses every key and starts revisions over, so the recipe
 * checkers judge each store's history on its own (issue 16: the documented loss of state is accepted).
 *
 * Which store an operation belongs to is decided by {@link splitEpochs}. Invariants about the final
 * state only hold for the last epoch: in earlier ones they are dropped.
 *
 * @module
 */
import type { CheckResult, HistoryEntry } from '../history.js';
import type { FaultRecord } from '../nemesis.js';

/** Invariants that compare with the state read at the end: meaningful for the last epoch only. */
export const FINAL_STATE_INVARIANTS = new Set([
  'count',
  'counter-final',
  'atomic-bound',
  'gap-free',
  'final-value',
  'observe-converged',
  'cache-converged',
  'registration-restored',
  'acked',
  'drained',
]);

/**
 * Splits `entries` at each successful cluster reset; with no reset, one epoch holding everything.
 *
 * The old store is killed, and the new one serves, at unknown moments inside a reset's window
 * (`start`..`end`). So:
 * - a *write* (`details.write`) goes into every store whose life its interval overlaps (store `i` lives at
 *   most from the start of the reset before it to the end of the one after it); in more than one — in
 *   flight across a reset, or started or ended during one — it may have applied on either, and if
 *   acknowledged it is of unknown outcome in each. (By its start alone, a push acknowledged by the old
 *   store just before the kill landed was blamed on the new store: lost with the data, legitimately.)
 * - anything else (a read, a grant, a follower's report) shows the store that answered it, the one alive
 *   when it ended; one that ended inside a reset's window may show either and is judged in neither (a
 *   follower's old-store change logged just after the reset began was judged against the new store).
 */
export function splitEpochs(
  entries: readonly HistoryEntry[],
  faults: readonly FaultRecord[],
): HistoryEntry[][] {
  const resets = faults
    .filter((f) => f.kind === 'wipe-cluster' && f.error === undefined)
    .sort((a, b) => a.start - b.start);
  if (resets.length === 0) return [[...entries]];
  const epochs: HistoryEntry[][] = [...resets.map(() => []), []];
  const born = (i: number): number => (i === 0 ? -Infinity : (resets[i - 1] as FaultRecord).start);
  const died = (i: number): number => (i === resets.length ? Infinity : (resets[i] as FaultRecord).end);
  for (const e of entries) {
    let homes: number[];
    if (e.details['write'] === true) {
      homes = epochs.map((_, i) => i).filter((i) => e.start < died(i) && e.end > born(i));
    } else {
      const i = resets.findIndex((r) => e.end < r.start);
      const home = i === -1 ? resets.length : i;
      homes = home > 0 && e.end <= (resets[home - 1] as FaultRecord).end ? [] : [home];
    }
    const asUnknown =
      homes.length > 1 && e.outcome === 'ok' && e.details['write'] === true
        ? { ...e, outcome: 'unknown' as const }
        : e;
    for (const i of homes) epochs[i]?.push(asUnknown);
  }
  return epochs;
}

/** Runs `check` per epoch and merges: violations of all (final-state ones of the last only), stats of the last. */
export function checkPerEpoch(
  epochs: readonly HistoryEntry[][],
  check: (entries: HistoryEntry[]) => CheckResult,
): CheckResult {
  const results = epochs.map((e) => check(e));
  const last = results[results.length - 1] as CheckResult;
  if (results.length === 1) return last;
  const violations = results.flatMap((r, i) =>
    r.violations
      .filter((v) => i === results.length - 1 || !FINAL_STATE_INVARIANTS.has(v.invariant))
      .map((v) => ({ ...v, message: `epoch ${i + 1}/${results.length}: ${v.message}` })),
  );
  return {
    ...last,
    operations: results.reduce((n, r) => n + r.operations, 0),
    violations,
    stats: { ...last.stats, epochs: results.length },
    notes: results.flatMap((r) => r.notes ?? []),
  };
}
