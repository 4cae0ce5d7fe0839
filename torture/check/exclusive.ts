/**
 * Interval exclusion, shared by the `once` and `runAsLeader` checkers: two runs by different actors
 * (worker + caller) must not overlap, unless the earlier one had been told it lost its right (its
 * signal aborted) before the later one started — the library's promise is the signal, not the body.
 *
 * @module
 */
import type { HistoryEntry, Violation } from '../history.js';
import { actor, CLOCK_SLACK_MS, violation } from './util.js';

/** Overlapping runs among `runs` (one group: one slot, or one leader name), as violations. */
export function overlaps(
  recipe: string,
  invariant: string,
  runs: readonly HistoryEntry[],
  what: (a: HistoryEntry, b: HistoryEntry) => string,
): Violation[] {
  const vs: Violation[] = [];
  const sorted = [...runs].sort((a, b) => a.start - b.start);
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i] as HistoryEntry;
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j] as HistoryEntry;
      if (b.start >= a.end - CLOCK_SLACK_MS) break;
      if (actor(a) === actor(b)) continue;
      const abortedAt = a.details['abortedAt'];
      if (typeof abortedAt === 'number' && abortedAt <= b.start + CLOCK_SLACK_MS) continue;
      vs.push(violation(recipe, invariant, what(a, b), [a, b]));
    }
  }
  return vs;
}
