/**
 * Liveness checker: once every fault is healed, no operation stays in flight for long. Every request
 * has a deadline (2 s in the workers) and every wait a timeout or the quiesce signal, so an operation
 * still running `STUCK_MS` after it started, when the workers report after healing, is a hang.
 *
 * @module
 */
import type { CheckResult, HistoryEntry, Violation } from '../history.js';
import { lastFinals } from '../history.js';
import { capPerInvariant, violation } from './util.js';

export const STUCK_MS = 30_000;

export function checkLiveness(entries: readonly HistoryEntry[]): CheckResult {
  const vs: Violation[] = [];
  let reported = 0;
  for (const report of lastFinals(entries).values()) {
    const inflight = (report.details['inflight'] ?? []) as Array<{
      op: string;
      ageMs: number;
      details: unknown;
    }>;
    reported++;
    for (const o of inflight) {
      if (o.ageMs > STUCK_MS) {
        vs.push(
          violation(
            'liveness',
            'stuck-operation',
            `${report.worker}: ${o.op} ${JSON.stringify(o.details)} still running after ${o.ageMs} ms (faults healed)`,
            [report],
          ),
        );
      }
    }
  }
  return { recipe: 'liveness', operations: 0, violations: capPerInvariant(vs), stats: { reports: reported } };
}
