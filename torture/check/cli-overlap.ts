/**
 * CLI supervisor checker (issue 14). The children of `etcd-coord lock|elect|once` stamp their life
 * (`child-start`, `child-alive` every 100 ms, `child-exit`; see workers/cli-common.ts).
 *
 * - `cli-overlap`: within one hold (the lock, the election, or one `once` slot) a child started before
 *   an earlier holder's child showed its last sign of life: two holders' children ran at the same time.
 *   Both stamps come from the same host clock (`date`), so no slack is needed; a child's real death is
 *   at most one beat after its last stamp, so this can miss a short overlap, never invent one.
 *
 * A later child whose fencing token is not larger than the earlier one's held the lock on a different
 * history (etcd restarted empty: revisions started over); an overlap there is the documented loss of
 * state across a store reset, reported as a note, not a violation.
 *
 * @module
 */
import type { CheckResult, HistoryEntry, Violation } from '../history.js';
import { byOp, capPerInvariant, str, violation } from './util.js';

const R = 'cli';

interface ChildLife {
  run: string;
  worker: string;
  hold: string;
  token: bigint;
  first: HistoryEntry;
  last: HistoryEntry;
}

function token(e: HistoryEntry): bigint {
  try {
    return BigInt(str(e, 'token'));
  } catch {
    return 0n;
  }
}

export function checkCliOverlap(entries: readonly HistoryEntry[]): CheckResult {
  const vs: Violation[] = [];
  const notes: string[] = [];
  const lives = new Map<string, ChildLife>();
  for (const e of entries) {
    if (!e.op.startsWith('child-')) continue;
    const run = str(e, 'run');
    const life = lives.get(run);
    if (life === undefined) {
      const hold = `${str(e, 'command')} ${str(e, 'group')}`;
      lives.set(run, { run, worker: e.worker, hold, token: token(e), first: e, last: e });
    } else {
      if (e.start < life.first.start) life.first = e;
      if (e.start > life.last.start) life.last = e;
    }
  }
  const byHold = new Map<string, ChildLife[]>();
  for (const life of lives.values()) byHold.set(life.hold, [...(byHold.get(life.hold) ?? []), life]);
  let pairs = 0;
  let minGapMs = Infinity;
  for (const group of byHold.values()) {
    group.sort((a, b) => a.first.start - b.first.start);
    for (let j = 1; j < group.length; j++) {
      const later = group[j] as ChildLife;
      for (let i = 0; i < j; i++) {
        const earlier = group[i] as ChildLife;
        pairs++;
        const gap = later.first.start - earlier.last.start;
        if (i === j - 1) minGapMs = Math.min(minGapMs, gap);
        if (gap >= 0) continue;
        const what = `${earlier.run} (token ${earlier.token}) was still alive ${-gap} ms after ${later.run} (token ${later.token}) started, holding ${later.hold}`;
        if (later.token <= earlier.token) notes.push(`across a store reset: ${what}`);
        else vs.push(violation(R, 'cli-overlap', what, [later.first, earlier.last]));
      }
    }
  }
  const runs = byOp(entries, 'cli-run');
  const codes: Record<string, number> = {};
  for (const r of runs) {
    const code = String(r.details['exitCode'] ?? r.outcome);
    codes[`exit${code}`] = (codes[`exit${code}`] ?? 0) + 1;
  }
  return {
    recipe: R,
    operations: runs.length,
    violations: capPerInvariant(vs),
    stats: {
      children: lives.size,
      pairs,
      minGapMs: minGapMs === Infinity ? -1 : minGapMs,
      ...codes,
    },
    ...(notes.length > 0 ? { notes } : {}),
  };
}

/**
 * The worker whose CLI child is alive right now (stamped within the last `freshMs`, no exit stamp), for
 * the negative control's nemesis, which cuts off exactly the holder whose child runs.
 */
export function workerWithLiveChild(
  entries: readonly HistoryEntry[],
  now: number,
  freshMs = 500,
): string | undefined {
  const last = new Map<string, HistoryEntry>();
  for (const e of entries) if (e.op.startsWith('child-')) last.set(str(e, 'run'), e);
  for (const e of last.values()) if (e.op !== 'child-exit' && now - e.start < freshMs) return e.worker;
  return undefined;
}
