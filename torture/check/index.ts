/**
 * Runs every checker over the merged histories, the final state and the fault records.
 *
 * Recipe checkers run once per store epoch (see `epochs.ts`: a cluster restarted empty starts a new
 * history); the cross-cutting checkers (liveness, ghost keys, store reset, member down) see everything.
 *
 * @module
 */
import type { CheckResult, FinalState, HistoryEntry } from '../history.js';
import type { FaultRecord } from '../nemesis.js';
import { checkLiveness } from './liveness.js';
import { checkConfig } from './config.js';
import { checkCounter } from './counter.js';
import { checkCron } from './cron.js';
import { checkCliOverlap } from './cli-overlap.js';
import { checkElection } from './election.js';
import { checkPerEpoch, splitEpochs } from './epochs.js';
import { checkGhosts } from './ghosts.js';
import { checkLeader } from './leader.js';
import { checkMemberDown } from './member-down.js';
import { checkMutex } from './mutex.js';
import { checkOnce } from './once.js';
import { checkQueue } from './queue.js';
import { checkRegistry } from './registry.js';
import { checkStoreReset } from './store-reset.js';

export {
  checkLiveness,
  checkConfig,
  checkCounter,
  checkCron,
  checkElection,
  checkGhosts,
  checkLeader,
  checkMemberDown,
  checkMutex,
  checkOnce,
  checkQueue,
  checkRegistry,
  checkStoreReset,
};

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
    | 'once'
    | 'cron'
    | 'leader'
    | 'cli-lock'
    | 'cli-elect'
    | 'cli-once';
  role: string;
}

export function checkAll(
  entries: readonly HistoryEntry[],
  final: FinalState,
  workers: readonly WorkerInfo[],
  faults: readonly FaultRecord[] = [],
): CheckResult[] {
  const of = (recipe: WorkerInfo['recipe']): HistoryEntry[] => {
    const names = new Set(workers.filter((w) => w.recipe === recipe).map((w) => w.name));
    return entries.filter((e) => names.has(e.worker));
  };
  const epochs = (
    recipe: WorkerInfo['recipe'],
    check: (entries: HistoryEntry[]) => CheckResult,
  ): CheckResult => checkPerEpoch(splitEpochs(of(recipe), faults), check);
  const names = (recipe: WorkerInfo['recipe'], role: string): string[] =>
    workers.filter((w) => w.recipe === recipe && w.role === role).map((w) => w.name);
  const present = new Set(workers.map((w) => w.recipe));
  const out: CheckResult[] = [];
  if (present.has('mutex')) out.push(epochs('mutex', (e) => checkMutex(e, final)));
  if (present.has('election')) {
    const observers = names('election', 'observer');
    out.push(epochs('election', (e) => checkElection(e, final, observers)));
  }
  if (present.has('leader')) out.push(epochs('leader', (e) => checkLeader(e)));
  if (present.has('once')) out.push(epochs('once', (e) => checkOnce(e)));
  if (present.has('cron')) out.push(epochs('cron', (e) => checkCron(e)));
  if (present.has('registry')) {
    const roles = new Map(workers.filter((w) => w.recipe === 'registry').map((w) => [w.name, w.role]));
    out.push(epochs('registry', (e) => checkRegistry(e, final, roles)));
  }
  if (present.has('config')) {
    const readers = names('config', 'reader');
    out.push(epochs('config', (e) => checkConfig(e, final, readers)));
  }
  if (present.has('queue')) out.push(epochs('queue', (e) => checkQueue(e, final)));
  const cli = workers.filter((w) => w.recipe.startsWith('cli-')).map((w) => w.name);
  if (cli.length > 0) out.push(checkCliOverlap(entries.filter((e) => cli.includes(e.worker))));
  if (present.has('counter')) out.push(epochs('counter', (e) => checkCounter(e, final)));
  out.push(checkLiveness(entries));
  out.push(checkGhosts(entries, final));
  if (faults.some((f) => f.kind === 'wipe-cluster')) {
    const config = names('config', 'reader');
    out.push(
      checkStoreReset(entries, final, faults, {
        config,
        all: [...config, ...names('registry', 'discovery')],
      }),
    );
  }
  if (faults.some((f) => f.kind === 'member-down')) out.push(checkMemberDown(entries, faults));
  return out;
}
