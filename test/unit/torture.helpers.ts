/**
 * Builders for hand-made torture histories (unit tests of the checkers).
 *
 * @module
 */
import type { HistoryEntry, Outcome } from '../../torture/history.js';

export function entry(
  worker: string,
  op: string,
  start: number,
  end: number,
  details: Record<string, unknown> = {},
  outcome: Outcome = 'ok',
): HistoryEntry {
  return { worker, op, start, end, outcome, details };
}
