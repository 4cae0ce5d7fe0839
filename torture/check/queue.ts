/**
 * Queue checker.
 *
 * - `acked`: every acknowledged push (by payload) was acked at least once (ack ok, or of unknown
 *   outcome — the final empty queue then shows it applied).
 * - `drained`: nothing is left in the queue (visible, delayed or claimed) nor dead-lettered.
 * - `double-claim`: no job is popped by one consumer while another still holds a claim on it that
 *   it later acks successfully. A resolved `ack()` proves the claim was live until the ack applied: an
 *   ack of a lost claim rejects `JobLostError` (recorded `failed`, with `lost` = `completed` or `queued`),
 *   and one whose earlier attempt may have applied before the loss is recorded `unknown` (issue 14 f6).
 *
 * @module
 */
import type { CheckResult, FinalState, HistoryEntry, Violation } from '../history.js';
import { byOp, capPerInvariant, CLOCK_SLACK_MS, countOutcomes, str, violation } from './util.js';

const R = 'queue';

export function checkQueue(
  entries: readonly HistoryEntry[],
  final: Pick<FinalState, 'queueSize' | 'deadLetterSize'>,
): CheckResult {
  const vs: Violation[] = [];
  const job = (e: HistoryEntry): string => `${str(e, 'p')}#${str(e, 'n')}`;
  const pushes = byOp(entries, 'push');
  const acks = byOp(entries, 'ack');
  const pops = byOp(entries, 'pop').filter((e) => e.outcome === 'ok');
  const acked = new Set(acks.filter((e) => e.outcome !== 'failed').map(job));
  for (const p of pushes) {
    if (p.outcome === 'ok' && !acked.has(job(p))) {
      vs.push(violation(R, 'acked', `job ${job(p)} (id ${str(p, 'id')}) pushed but never acked`, [p]));
    }
  }
  if (final.queueSize !== 0 || final.deadLetterSize !== 0) {
    vs.push(
      violation(
        R,
        'drained',
        `${final.queueSize} job(s) left in the queue, ${final.deadLetterSize} dead-lettered`,
        [],
      ),
    );
  }
  for (const a of acks) {
    if (a.outcome !== 'ok') continue;
    const other = pops.find(
      (p) =>
        p.worker !== a.worker &&
        str(p, 'id') === str(a, 'id') &&
        p.end + CLOCK_SLACK_MS < a.start &&
        claimedAt(a, pops) + CLOCK_SLACK_MS < p.start,
    );
    if (other !== undefined) {
      vs.push(
        violation(
          R,
          'double-claim',
          `job ${job(a)} popped by ${other.worker} while ${a.worker} held it (and then acked)`,
          [other, a],
        ),
      );
    }
  }
  const pushCounts = countOutcomes(pushes);
  const ackCounts = countOutcomes(acks);
  return {
    recipe: R,
    operations: entries.length,
    violations: capPerInvariant(vs),
    stats: {
      pushed: pushCounts.ok,
      pushUnknown: pushCounts.unknown,
      acked: ackCounts.ok,
      ackFailed: ackCounts.failed,
      ackUnknown: ackCounts.unknown,
      // Acks refused because the claim was lost: the job was completed by another consumer, or is still queued.
      ackLostCompleted: acks.filter((e) => e.details['lost'] === 'completed').length,
      ackLostQueued: acks.filter((e) => e.details['lost'] === 'queued').length,
      redeliveries: pops.filter((p) => Number(p.details['attempt']) > 1).length,
    },
  };
}

/**
 * When the acking worker's claim was surely committed: the end of its last pop of that id before the
 * ack. Another pop that *started* later and ended before the ack claimed the job while this claim lived.
 */
function claimedAt(ack: HistoryEntry, pops: readonly HistoryEntry[]): number {
  let at = Infinity;
  let found = false;
  for (const p of pops) {
    if (p.worker === ack.worker && str(p, 'id') === str(ack, 'id') && p.end <= ack.start) {
      at = found ? Math.max(at, p.end) : p.end;
      found = true;
    }
  }
  return at;
}
