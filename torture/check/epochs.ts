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

/** Splits `entries` at each successful cluster reset; with no reset, one epoch holding everything. */
export function splitEpochs(
  entries: readonly HistoryEntry[],
  faults: readonly FaultRecord[],
): HistoryEntry[][] {
  const resets = faults
    .filter((f) => f.kind === 'wipe-cluster' && f.error === undefined)
    .sort((a, b) => a.start - b.start);
  if (resets.length === 0) return [[...entries]];
  const epochs: HistoryEntry[][] = resets.map(() => []);
  epochs.push([]);
  for (const e of entries) {
    const i = resets.findIndex((r) => e.start < r.start);
    const home = i === -1 ? resets.length : i;
    const straddles = home < resets.length && e.end > (resets[home] as FaultRecord).start;
    const asUnknown =
      straddles && e.outcome === 'ok' && e.details['write'] === true
        ? { ...e, outcome: 'unknown' as const }
        : e;
    epochs[home]?.push(asUnknown);
    // Later epochs whose reset began while this operation was still running: it may have landed there.
    for (let j = home; j < resets.length; j++) {
      if (e.end <= (resets[j] as FaultRecord).start) break;
      epochs[j + 1]?.push(asUnknown);
    }
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
