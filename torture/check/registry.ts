/**
 * Registry checker, over the `final` reports taken after every fault was healed.
 *
 * - `cache-converged`: every discovery worker's cache holds exactly the instances in etcd.
 * - `registration-restored`: every instance a registrar believes registered is in etcd (a registration
 *   survives lease loss by re-registering).
 *
 * @module
 */
import type { CheckResult, FinalState, HistoryEntry, Violation } from '../history.js';
import { lastFinals } from '../history.js';
import { byOp, capPerInvariant, countOutcomes, violation } from './util.js';

const R = 'registry';

export function checkRegistry(
  entries: readonly HistoryEntry[],
  final: Pick<FinalState, 'registry'>,
  roles: ReadonlyMap<string, string>,
): CheckResult {
  const vs: Violation[] = [];
  const truth = [...final.registry].sort();
  const finals = lastFinals(entries);
  for (const [worker, role] of roles) {
    const report = finals.get(worker);
    if (report === undefined) {
      vs.push(violation(R, 'cache-converged', `${worker} (${role}) never reported its final state`, []));
      continue;
    }
    if (role === 'discovery') {
      const cache = (report.details['instances'] as string[] | undefined) ?? [];
      if (JSON.stringify([...cache].sort()) !== JSON.stringify(truth)) {
        vs.push(
          violation(
            R,
            'cache-converged',
            `${worker} cache [${cache.join(',')}] ≠ etcd [${truth.join(',')}]`,
            [report],
          ),
        );
      }
    } else {
      const live = (report.details['live'] as string[] | undefined) ?? [];
      const missing = live.filter((id) => !truth.includes(id));
      if (missing.length > 0) {
        vs.push(
          violation(
            R,
            'registration-restored',
            `${worker}: [${missing.join(',')}] registered but not in etcd`,
            [report],
          ),
        );
      }
    }
  }
  const regs = countOutcomes(byOp(entries, 'register'));
  return {
    recipe: R,
    operations: entries.length,
    violations: capPerInvariant(vs),
    stats: { registered: regs.ok, deregistered: byOp(entries, 'deregister').length, final: truth.length },
  };
}
