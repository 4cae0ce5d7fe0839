/**
 * Election checker. Leaders append to one log key with txns guarded by their term.
 *
 * - `one-leader-per-term`: every acknowledged write and every election of a token comes from one worker
 *   and caller (two concurrent `campaign()` calls on one session that both get the term are two leaders).
 * - `terms-increase`: acknowledged writes in commit-revision order have non-decreasing tokens (no
 *   write of an older term lands after a newer term's write).
 * - `observe-converged`: after healing, every observer's last leader equals a direct read (issue 16: an
 *   observer must not stay on a history the store lost).
 * - `stale-leader`: no acknowledged write with token a is sent after another worker won token b > a.
 *
 * @module
 */
import type { CheckResult, FinalState, HistoryEntry, Violation } from '../history.js';
import { lastFinals } from '../history.js';
import { actor, byOp, capPerInvariant, CLOCK_SLACK_MS, countOutcomes, str, violation } from './util.js';

const R = 'election';

export function checkElection(
  entries: readonly HistoryEntry[],
  final?: Pick<FinalState, 'electionLeader'>,
  observers: readonly string[] = [],
): CheckResult {
  const vs: Violation[] = [];
  const finals = lastFinals(entries);
  for (const o of observers) {
    const report = finals.get(o);
    const seen = report?.details['leader'] ?? null;
    if (final !== undefined && seen !== final.electionLeader) {
      vs.push(
        violation(
          R,
          'observe-converged',
          `${o} observes leader ${String(seen)}, a direct read says ${String(final.electionLeader)}`,
          report ? [report] : [],
        ),
      );
    }
  }
  const wins = byOp(entries, 'elected').filter((e) => e.outcome === 'ok');
  const writes = byOp(entries, 'write');
  const okWrites = writes.filter((e) => e.outcome === 'ok');

  const owner = new Map<string, HistoryEntry>();
  for (const e of [...wins, ...okWrites]) {
    const token = str(e, 'token');
    const first = owner.get(token);
    if (first === undefined) owner.set(token, e);
    else if (actor(first) !== actor(e)) {
      vs.push(
        violation(R, 'one-leader-per-term', `term ${token} used by ${actor(first)} and ${actor(e)}`, [
          first,
          e,
        ]),
      );
    }
  }

  const byRevision = [...okWrites].sort((a, b) =>
    BigInt(str(a, 'revision')) < BigInt(str(b, 'revision')) ? -1 : 1,
  );
  for (let i = 1; i < byRevision.length; i++) {
    const prev = byRevision[i - 1] as HistoryEntry;
    const cur = byRevision[i] as HistoryEntry;
    if (BigInt(str(cur, 'token')) < BigInt(str(prev, 'token'))) {
      vs.push(
        violation(
          R,
          'terms-increase',
          `write at revision ${str(cur, 'revision')} by term ${str(cur, 'token')} after term ${str(prev, 'token')}`,
          [prev, cur],
        ),
      );
    }
  }

  for (const w of okWrites) {
    const token = BigInt(str(w, 'token'));
    const newer = wins.find(
      (g) => actor(g) !== actor(w) && BigInt(str(g, 'token')) > token && g.end + CLOCK_SLACK_MS < w.start,
    );
    if (newer !== undefined) {
      vs.push(
        violation(
          R,
          'stale-leader',
          `${actor(w)} wrote as term ${token} after ${actor(newer)} won term ${str(newer, 'token')}`,
          [newer, w],
        ),
      );
    }
  }
  const counts = countOutcomes(writes);
  return {
    recipe: R,
    operations: entries.length,
    violations: capPerInvariant(vs),
    stats: { terms: wins.length, writes: counts.ok, refused: counts.failed, unknown: counts.unknown },
  };
}
