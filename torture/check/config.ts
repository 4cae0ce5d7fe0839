/**
 * Config checker. One writer sets keys to strictly increasing sequence numbers; readers record every
 * state they exposed with its revision.
 *
 * - `revision-order`: each reader's revisions strictly increase (its states are a subsequence of the
 *   store's revision order; nothing seen twice or out of order).
 * - `state-at-revision`: a state seen at revision r holds, for each key, the value of the last
 *   acknowledged write at or before r, or a write of unknown outcome — never an older acknowledged
 *   value and never a value acknowledged only after r. An unknown write may be applied *late*, after
 *   later acknowledged writes (seen in campaigns: a proposal buffered in a SIGSTOPped member is applied
 *   seconds after the client gave up); such cases are counted in `lateApplied` and listed as notes.
 * - `final-value`: each reader's final value equals a direct read.
 *
 * @module
 */
import type { CheckResult, FinalState, HistoryEntry, Violation } from '../history.js';
import { lastFinals } from '../history.js';
import { byOp, capPerInvariant, countOutcomes, str, violation } from './util.js';

const R = 'config';

interface Write {
  key: string;
  seq: number;
  revision: bigint | undefined;
  outcome: string;
}

export function checkConfig(
  entries: readonly HistoryEntry[],
  final: Pick<FinalState, 'config'>,
  readers: readonly string[],
): CheckResult {
  const vs: Violation[] = [];
  const sets = byOp(entries, 'set');
  const writes: Write[] = sets
    .filter((e) => e.outcome !== 'failed')
    .map((e) => ({
      key: str(e, 'key'),
      seq: Number(e.details['seq']),
      revision: e.outcome === 'ok' ? BigInt(str(e, 'revision')) : undefined,
      outcome: e.outcome,
    }));
  const bySeq = new Map(writes.map((w) => [w.seq, w]));
  const finals = lastFinals(entries);
  const lateNotes = new Map<string, string>();

  for (const reader of readers) {
    const seen = entries.filter((e) => e.worker === reader && (e.op === 'initial' || e.op === 'change'));
    let last: HistoryEntry | undefined;
    for (const e of seen) {
      const rev = BigInt(str(e, 'revision'));
      if (last !== undefined && rev <= BigInt(str(last, 'revision'))) {
        vs.push(
          violation(R, 'revision-order', `${reader} saw revision ${rev} after ${str(last, 'revision')}`, [
            last,
            e,
          ]),
        );
      }
      last = e;
      const value = (e.details['value'] ?? {}) as Record<string, unknown>;
      for (const key of new Set([...Object.keys(value), ...writes.map((w) => w.key)])) {
        const expected = writes
          .filter((w) => w.key === key && w.revision !== undefined && w.revision <= rev)
          .reduce<number | undefined>((m, w) => (m === undefined || w.seq > m ? w.seq : m), undefined);
        const raw = value[key];
        const observed = raw === undefined ? undefined : Number(raw);
        if (observed === expected) continue;
        const w = observed === undefined ? undefined : bySeq.get(observed);
        // A write of unknown outcome may be applied at any later revision — even after later
        // acknowledged writes (a proposal buffered in a paused member is applied when it resumes).
        const unknownWrite = w !== undefined && w.key === key && w.outcome === 'unknown';
        if (unknownWrite && expected !== undefined && (w?.seq ?? 0) < expected) {
          const id = `${key}=${String(observed)}`;
          if (!lateNotes.has(id)) {
            lateNotes.set(
              id,
              `${id} (a write of unknown outcome) seen at revision ${rev}, after the acknowledged write of ${expected}: applied late, it reverted a newer value`,
            );
          }
        }
        if (!unknownWrite) {
          vs.push(
            violation(
              R,
              'state-at-revision',
              `${reader} at revision ${rev}: ${key} = ${String(observed)}, expected ${String(expected)}`,
              [e],
            ),
          );
        }
      }
    }
    const report = finals.get(reader);
    const got = JSON.stringify(
      sortKeys((report?.details['value'] ?? null) as Record<string, unknown> | null),
    );
    const want = JSON.stringify(sortKeys(final.config));
    if (got !== want) {
      vs.push(
        violation(R, 'final-value', `${reader} final ${got} ≠ direct read ${want}`, report ? [report] : []),
      );
    }
  }
  const counts = countOutcomes(sets);
  return {
    recipe: R,
    operations: entries.length,
    violations: capPerInvariant(vs),
    stats: {
      sets: counts.ok,
      unknown: counts.unknown,
      changes: byOp(entries, 'change').length,
      lateApplied: lateNotes.size,
    },
    notes: [...lateNotes.values()],
  };
}

function sortKeys(o: Record<string, unknown> | null): Record<string, unknown> | null {
  if (o === null) return null;
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}
