/**
 * `runAsLeader` checker (issue 14): at most one body runs at a time across every worker and caller
 * (`one-body`), unless the earlier body's signal had aborted before the later one started; and each
 * term (fencing token) belongs to one worker and caller (`one-leader-per-term`).
 *
 * @module
 */
import type { CheckResult, HistoryEntry, Violation } from '../history.js';
import { overlaps } from './exclusive.js';
import { actor, byOp, capPerInvariant, countOutcomes, str, violation } from './util.js';

const R = 'leader';

export function checkLeader(entries: readonly HistoryEntry[]): CheckResult {
  const vs: Violation[] = [];
  const bodies = byOp(entries, 'body');
  vs.push(
    ...overlaps(
      R,
      'one-body',
      bodies,
      (a, b) => `${actor(a)} and ${actor(b)} ran as leader at the same time`,
    ),
  );
  const owner = new Map<string, HistoryEntry>();
  for (const b of bodies) {
    const first = owner.get(str(b, 'token'));
    if (first === undefined) owner.set(str(b, 'token'), b);
    else if (actor(first) !== actor(b)) {
      vs.push(
        violation(R, 'one-leader-per-term', `term ${str(b, 'token')} ran ${actor(first)} and ${actor(b)}`, [
          first,
          b,
        ]),
      );
    }
  }
  const calls = countOutcomes(byOp(entries, 'runAsLeader'));
  return {
    recipe: R,
    operations: entries.length,
    violations: capPerInvariant(vs),
    stats: {
      bodies: bodies.filter((b) => b.outcome === 'ok').length,
      aborted: bodies.filter((b) => b.outcome !== 'ok').length,
      callsFailed: calls.failed + calls.unknown,
    },
  };
}
