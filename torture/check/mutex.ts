/**
 * Mutex checker. The workers do lock → read counter → guarded write of counter+1 → unlock.
 *
 * - `distinct-values`: two acknowledged writes of the same value mean two holders both read the same
 *   counter and both wrote: a lost update, i.e. overlapping ownership.
 * - `stale-owner`: an acknowledged write with token a sent after another worker (or caller) had been granted the
 *   lock with a newer token b > a: the old owner wrote while the new one held the lock.
 * - `one-holder-per-token`: a lock key (token) is granted to one worker and caller only (two concurrent
 *   `lock()` calls of one session must not both be handed the same key).
 * - `fencing-order`: acknowledged writes ordered by value have non-decreasing tokens.
 * - `count`: final count ≥ max acknowledged value, and acks ≤ final ≤ acks + unknown writes.
 *
 * @module
 */
import type { CheckResult, FinalState, HistoryEntry, Violation } from '../history.js';
import { actor, byOp, capPerInvariant, CLOCK_SLACK_MS, countOutcomes, num, str, violation } from './util.js';

const R = 'mutex';

export function checkMutex(
  entries: readonly HistoryEntry[],
  final: Pick<FinalState, 'mutexCount'>,
): CheckResult {
  const vs: Violation[] = [];
  const writes = byOp(entries, 'write');
  const okWrites = writes.filter((e) => e.outcome === 'ok');
  const counts = countOutcomes(writes);

  const byValue = new Map<number, HistoryEntry>();
  for (const w of okWrites) {
    const other = byValue.get(num(w, 'value'));
    if (other !== undefined) {
      vs.push(
        violation(R, 'distinct-values', `two acknowledged writes of value ${num(w, 'value')} (lost update)`, [
          other,
          w,
        ]),
      );
    } else byValue.set(num(w, 'value'), w);
  }

  const grants = byOp(entries, 'lock').filter((e) => e.outcome === 'ok');
  for (const w of okWrites) {
    const token = BigInt(str(w, 'token'));
    const newer = grants.find(
      (g) => actor(g) !== actor(w) && BigInt(str(g, 'token')) > token && g.end + CLOCK_SLACK_MS < w.start,
    );
    if (newer !== undefined) {
      vs.push(
        violation(
          R,
          'stale-owner',
          `${actor(w)} wrote ${num(w, 'value')} with token ${token} after ${actor(newer)} was granted token ${str(newer, 'token')}`,
          [newer, w],
        ),
      );
    }
  }

  const holderOf = new Map<string, HistoryEntry>();
  for (const g of grants) {
    const first = holderOf.get(str(g, 'token'));
    if (first === undefined) holderOf.set(str(g, 'token'), g);
    else if (actor(first) !== actor(g)) {
      vs.push(
        violation(
          R,
          'one-holder-per-token',
          `token ${str(g, 'token')} granted to ${actor(first)} and ${actor(g)}`,
          [first, g],
        ),
      );
    }
  }

  const sorted = [...okWrites].sort((a, b) => num(a, 'value') - num(b, 'value'));
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1] as HistoryEntry;
    const cur = sorted[i] as HistoryEntry;
    if (BigInt(str(cur, 'token')) < BigInt(str(prev, 'token'))) {
      vs.push(
        violation(
          R,
          'fencing-order',
          `value ${num(cur, 'value')} written with an older token than value ${num(prev, 'value')}`,
          [prev, cur],
        ),
      );
    }
  }

  const maxAcked = okWrites.reduce((m, w) => Math.max(m, num(w, 'value')), 0);
  const count = final.mutexCount;
  if (count < maxAcked || count < counts.ok || count > counts.ok + counts.unknown) {
    vs.push(
      violation(
        R,
        'count',
        `final count ${count}, expected within [${counts.ok}, ${counts.ok + counts.unknown}] and ≥ max acknowledged ${maxAcked}`,
        [],
      ),
    );
  }
  return {
    recipe: R,
    operations: entries.length,
    violations: capPerInvariant(vs),
    stats: {
      acked: counts.ok,
      unknown: counts.unknown,
      refused: counts.failed,
      final: count,
      grants: grants.length,
    },
  };
}
