/**
 * Store epochs: a `wipe-cluster` fault loses every key and starts revisions over, so the recipe
 * checkers judge each store's history on its own (issue 16: the documented loss of state is accepted).
 *
 * An operation belongs to the epoch in which it started; one that started before a reset and ended
 * after it may have applied on either store, so it appears in both, as of unknown outcome. Invariants
 * about the final state only hold for the last epoch: in earlier ones they are dropped.
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
 * Store `i` lives, at most, from the start of the reset before it to the end of the reset after it: the
 * old store is killed at some moment inside a reset's window and the new one serves at some later moment
 * inside it, neither known more precisely. An operation goes into every store whose life it overlaps; one
 * in more than one store (in flight across a reset, or started or ended *during* one) may have applied on
 * either, so a write acknowledged there is of unknown outcome in each. Judging by the start alone blamed
 * the new store for a push that started just after a reset began but was applied (and acknowledged) by
 * the old store before the kill landed: lost with the old data, a legitimate loss.
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
    // An instant entry (a report) at a boundary belongs to the store it was taken on: the half-open test.
    const homes = epochs
      .map((_, i) => i)
      .filter((i) => e.start < died(i) && (e.end > born(i) || (e.end === e.start && e.start >= born(i))));
    const shared = homes.length > 1;
    const asUnknown =
      shared && e.outcome === 'ok' && e.details['write'] === true ? { ...e, outcome: 'unknown' as const } : e;
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
