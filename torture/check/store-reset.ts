/**
 * Store-reset checker (issue 16). After a `wipe-cluster` fault (every member restarted empty: revisions
 * start over), the loss of state is documented and accepted — the recipe checkers see each store's
 * history separately (see `epochs.ts`) — but a follower that stays on the old history is not:
 *
 * - `follower-stale`: after each reset, every config reader shows the first write acknowledged on the
 *   new store (or a later one of that key) within `FOLLOW_MS` of its acknowledgement, unless the reader
 *   itself was under a fault then.
 * - `follower-ahead`: at the end, no follower (config reader, discovery) reports a revision the store
 *   has not reached: that revision belongs to a history that no longer exists.
 *
 * @module
 */
import type { CheckResult, FinalState, HistoryEntry, Violation } from '../history.js';
import { lastFinals } from '../history.js';
import type { FaultRecord } from '../nemesis.js';
import { byOp, capPerInvariant, str, violation } from './util.js';

const R = 'store-reset';
/** How soon a follower must show a write made on the new store (issue 16 asks 2 s; slack for load). */
export const FOLLOW_MS = 5_000;
const READER_FAULTS = new Set(['pause-worker', 'blackhole', 'drop-replies', 'reset']);

export function checkStoreReset(
  entries: readonly HistoryEntry[],
  final: Pick<FinalState, 'revision'>,
  faults: readonly FaultRecord[],
  followers: { config: readonly string[]; all: readonly string[] },
): CheckResult {
  const vs: Violation[] = [];
  const resets = faults.filter((f) => f.kind === 'wipe-cluster' && f.error === undefined);
  const sets = byOp(entries, 'set').filter((e) => e.outcome === 'ok');
  let checked = 0;
  resets.forEach((reset, i) => {
    const next = resets[i + 1]?.start ?? Infinity;
    const w1 = sets.filter((s) => s.start >= reset.end).sort((a, b) => a.end - b.end)[0];
    if (w1 === undefined || w1.end + FOLLOW_MS > next) return;
    const key = str(w1, 'key');
    const seq = Number(w1.details['seq']);
    for (const reader of followers.config) {
      const faulted = faults.some(
        (f) =>
          READER_FAULTS.has(f.kind) &&
          f.target === reader &&
          f.start < w1.end + FOLLOW_MS &&
          f.end > reset.start,
      );
      if (faulted) continue;
      checked++;
      const seen = entries.some(
        (e) =>
          e.worker === reader &&
          (e.op === 'change' || e.op === 'initial' || e.op === 'reset') &&
          e.end <= w1.end + FOLLOW_MS &&
          Number((e.details['value'] as Record<string, unknown> | undefined)?.[key] ?? -1) >= seq,
      );
      if (!seen) {
        vs.push(
          violation(
            R,
            'follower-stale',
            `${reader} did not show ${key}=${seq} (the first write on the new store after the reset at +${Math.round(reset.end - reset.start)} ms) within ${FOLLOW_MS} ms: it stays on the old history`,
            [w1],
          ),
        );
      }
    }
  });
  const storeRev = BigInt(final.revision);
  const finals = lastFinals(entries);
  for (const name of followers.all) {
    const f = finals.get(name);
    const rev = f?.details['revision'];
    if (f === undefined || rev === undefined) continue;
    if (BigInt(String(rev)) > storeRev) {
      vs.push(
        violation(
          R,
          'follower-ahead',
          `${name} reports revision ${String(rev)}, the store is at ${storeRev}: it follows a history that was reset`,
          [f],
        ),
      );
    }
  }
  return {
    recipe: R,
    operations: 0,
    violations: capPerInvariant(vs),
    stats: { resets: resets.length, checked },
  };
}
