/**
 * "Member down for a minute" checker (issue 22): while one member of three is killed and nothing else
 * is wrong, every operation that starts after the kill and ends before the restart succeeds. A request
 * refused by the dead member is not an unknown outcome: it must go to a live member.
 *
 * Explained, not counted: waits that time out or are aborted by design (`LOCK_TIMEOUT`, `ABORTED` — e.g.
 * `pop()` on an empty queue, a candidate waiting its turn) and guard refusals of a lock or term that
 * was legitimately lost before the phase (`CONFLICT` within the first TTL).
 *
 * @module
 */
import type { CheckResult, HistoryEntry, Violation } from '../history.js';
import type { FaultRecord } from '../nemesis.js';
import { operations } from '../history.js';
import { capPerInvariant, violation } from './util.js';

const R = 'member-down';
/** Requests in flight to the member when it died may be of unknown outcome: start counting after this. */
export const KILL_GRACE_MS = 1_000;
const TTL_MS = 2_000;
const EXPLAINED = new Set(['LOCK_TIMEOUT', 'ABORTED']);

export function checkMemberDown(
  entries: readonly HistoryEntry[],
  faults: readonly FaultRecord[],
): CheckResult {
  const vs: Violation[] = [];
  let counted = 0;
  let explained = 0;
  for (const phase of faults.filter((f) => f.kind === 'member-down' && f.error === undefined)) {
    const from = phase.start + KILL_GRACE_MS;
    for (const e of operations(entries)) {
      if (e.start < from || e.end > phase.end) continue;
      counted++;
      if (e.outcome === 'ok') continue;
      const code = String(e.details['error'] ?? '').split(':')[0] ?? '';
      if (EXPLAINED.has(code) || (code === 'CONFLICT' && e.start < from + TTL_MS)) {
        explained++;
        continue;
      }
      vs.push(
        violation(
          R,
          'failed-op',
          `${e.worker}: ${e.op} ${e.outcome} with ${phase.target} down: ${String(e.details['error'] ?? '')}`,
          [e],
        ),
      );
    }
  }
  return {
    recipe: R,
    operations: counted,
    violations: capPerInvariant(vs, 20),
    stats: { counted, explained, failed: vs.length },
  };
}
