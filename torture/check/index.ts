/**
 * Runs every checker over the merged histories and the final state.
 *
 * @module
 */
import type { CheckResult, FinalState, HistoryEntry } from '../history.js';
import { checkLiveness } from './liveness.js';
import { checkConfig } from './config.js';
import { checkCounter } from './counter.js';
import { checkCliOverlap } from './cli-overlap.js';
import { checkElection } from './election.js';
import { checkMutex } from './mutex.js';
import { checkQueue } from './queue.js';
import { checkRegistry } from './registry.js';

export { checkLiveness, checkConfig, checkCounter, checkElection, checkMutex, checkQueue, checkRegistry };

/** A worker as the checkers need it: its recipe and role. */
export interface WorkerInfo {
  name: string;
  recipe:
    | 'mutex'
    | 'election'
    | 'registry'
    | 'config'
    | 'queue'
    | 'counter'
    | 'cli-lock'
    | 'cli-elect'
    | 'cli-once';
  role: string;
}

export function checkAll(
  entries: readonly HistoryEntry[],
  final: FinalState,
  workers: readonly WorkerInfo[],
): CheckResult[] {
  const of = (recipe: WorkerInfo['recipe']): HistoryEntry[] => {
    const names = new Set(workers.filter((w) => w.recipe === recipe).map((w) => w.name));
    return entries.filter((e) => names.has(e.worker));
  };
  const present = new Set(workers.map((w) => w.recipe));
  const out: CheckResult[] = [];
  if (present.has('mutex')) out.push(checkMutex(of('mutex'), final));
  if (present.has('election')) out.push(checkElection(of('election')));
  if (present.has('registry')) {
    const roles = new Map(workers.filter((w) => w.recipe === 'registry').map((w) => [w.name, w.role]));
    out.push(checkRegistry(of('registry'), final, roles));
  }
  if (present.has('config')) {
    const readers = workers.filter((w) => w.recipe === 'config' && w.role === 'reader').map((w) => w.name);
    out.push(checkConfig(of('config'), final, readers));
  }
  if (present.has('queue')) out.push(checkQueue(of('queue'), final));
  if (present.has('counter')) out.push(checkCounter(of('counter'), final));
  const cli = workers.filter((w) => w.recipe.startsWith('cli-')).map((w) => w.name);
  if (cli.length > 0) out.push(checkCliOverlap(entries.filter((e) => cli.includes(e.worker))));
  out.push(checkLiveness(entries));
  return out;
}
