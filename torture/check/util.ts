/**
 * Helpers shared by the checkers.
 *
 * @module
 */
import type { HistoryEntry, Violation } from '../history.js';

/**
 * Slack for comparing times recorded by different processes (their `timeOrigin`s come from the
 * wall clock at start). Violations that need a real-time order demand a gap larger than this.
 */
export const CLOCK_SLACK_MS = 50;

/**
 * Who did it: the worker, plus its caller when several callers share one coordinator (issue 14). Two
 * callers of one process are two holders as far as exclusion goes.
 */
export function actor(e: HistoryEntry): string {
  const caller = e.details['caller'];
  return caller === undefined ? e.worker : `${e.worker}/${String(caller)}`;
}

export function byOp(entries: readonly HistoryEntry[], op: string): HistoryEntry[] {
  return entries.filter((e) => e.op === op);
}

export function str(e: HistoryEntry, field: string): string {
  return String(e.details[field]);
}

export function num(e: HistoryEntry, field: string): number {
  return Number(e.details[field]);
}

export function violation(
  recipe: string,
  invariant: string,
  message: string,
  evidence: HistoryEntry[],
): Violation {
  return { recipe, invariant, message, evidence: evidence.slice(0, 6) };
}

export function countOutcomes(entries: readonly HistoryEntry[]): {
  ok: number;
  failed: number;
  unknown: number;
} {
  const out = { ok: 0, failed: 0, unknown: 0 };
  for (const e of entries) out[e.outcome]++;
  return out;
}

/** Keeps at most `max` violations per invariant, so one broken run does not produce a huge report. */
export function capPerInvariant(vs: Violation[], max = 10): Violation[] {
  const seen = new Map<string, number>();
  return vs.filter((v) => {
    const n = (seen.get(v.invariant) ?? 0) + 1;
    seen.set(v.invariant, n);
    return n <= max;
  });
}
