/**
 * Ghost-key checker (issue 15), at quiesce, after healing and converging:
 *
 * - `ghost-key`: every key under a lock/election/once holder prefix belongs to a worker that reports
 *   holding it. A key whose owner let go (or never knew it created it: a late-applied enqueue) but that
 *   stays under a live lease blocks everyone else for as long as that process lives.
 * - `lock-takeable`: every lock and election name can be taken within one TTL (+1 s) by a fresh client.
 *
 * Registrations count too: an id in etcd that no registrar reports `live` is a ghost.
 *
 * Workers report `held` (keys they believe they hold) and `leaseId` (hex) in their `final` entries.
 *
 * @module
 */
import type { CheckResult, FinalState, HistoryEntry, Violation } from '../history.js';
import { lastFinals } from '../history.js';
import { capPerInvariant, violation } from './util.js';

const R = 'ghosts';

export function checkGhosts(
  entries: readonly HistoryEntry[],
  final: Pick<FinalState, 'holders' | 'probes' | 'registry'>,
): CheckResult {
  const vs: Violation[] = [];
  const finals = [...lastFinals(entries).values()];
  const believed = new Set(finals.flatMap((f) => (f.details['held'] as string[] | undefined) ?? []));
  const ownerOf = new Map(finals.map((f) => [String(f.details['leaseId']), f]));
  for (const h of final.holders) {
    if (believed.has(h.key)) continue;
    const owner = ownerOf.get(h.leaseId);
    vs.push(
      violation(
        R,
        'ghost-key',
        `${h.key} (lease ${h.leaseId}) is held, but ${owner ? `its owner ${owner.worker} does not know it holds it` : 'by no worker’s session'}`,
        owner ? [owner] : [],
      ),
    );
  }
  // A registration deregistered (as far as its registrar knows) but still advertised is a ghost too.
  const live = new Set(finals.flatMap((f) => (f.details['live'] as string[] | undefined) ?? []));
  const registrars = finals.some((f) => f.details['live'] !== undefined);
  for (const id of registrars ? final.registry : []) {
    if (!live.has(id)) {
      vs.push(
        violation(
          R,
          'ghost-key',
          `registration ${id} is in etcd but no registrar believes it registered`,
          [],
        ),
      );
    }
  }
  for (const p of final.probes ?? []) {
    if (!p.ok) {
      vs.push(
        violation(
          R,
          'lock-takeable',
          `${p.name} could not be taken within one TTL: ${p.error ?? ''} (${p.ms} ms)`,
          [],
        ),
      );
    }
  }
  return {
    recipe: R,
    operations: 0,
    violations: capPerInvariant(vs),
    stats: { holders: final.holders.length, probes: final.probes?.length ?? 0 },
  };
}
