/**
 * What each fault kind does, given the targets the nemesis chose. Every fault heals itself before it
 * resolves; the nemesis records it.
 *
 * The ways a write's outcome becomes unknown (issue 15) each have a kind:
 * - `drop-replies`: a worker's proxies forward its requests but drop etcd's answers (applied, unseen);
 * - `stall-member`: the member the workers send the most traffic to is SIGSTOPped with requests in its
 *   socket buffers; the workers' connections to it are then blackholed, so their cancels never reach it
 *   and they fail over; on SIGCONT it applies the stale requests — after newer ones.
 *
 * A store reset (issue 16): `wipe-member` replaces one member by an empty one (the data survives in the
 * others), `wipe-cluster` restarts every member empty (everything is lost; revisions start over).
 *
 * @module
 */
import type { EtcdCluster, EtcdMember } from '../test/support/etcd.js';
import type { FaultProxy } from '../test/support/proxy.js';
import { stallApply } from '../test/support/stall.js';

/** A worker process as the nemesis sees it; `proxies[i]` leads to `cluster.members[i]`. */
export interface NemesisWorker {
  readonly name: string;
  pause(): void;
  resume(): void;
  readonly proxies: readonly FaultProxy[];
}

/** Pauses (or blackholes, or drops the replies of) one worker for `ms`. */
export async function workerFault(
  kind: 'pause-worker' | 'blackhole' | 'drop-replies',
  worker: NemesisWorker,
  ms: number,
): Promise<void> {
  if (kind === 'pause-worker') {
    worker.pause();
    await sleep(ms);
    worker.resume();
    return;
  }
  for (const p of worker.proxies) {
    if (kind === 'blackhole') p.blackhole();
    else p.dropReplies();
  }
  await sleep(ms);
  for (const p of worker.proxies) p.pass();
}

/**
 * The member whose proxies forwarded the most bytes in a short sample: the one the workers are
 * talking to now. Falls back to `fallback` when nothing moved.
 */
export async function busiestMember(
  cluster: EtcdCluster,
  workers: readonly NemesisWorker[],
  fallback: EtcdMember,
  sampleMs = 300,
): Promise<EtcdMember> {
  const sum = (): number[] =>
    cluster.members.map((_, i) => workers.reduce((n, w) => n + (w.proxies[i]?.bytesForwarded ?? 0), 0));
  const before = sum();
  await sleep(sampleMs);
  const after = sum();
  let best = -1;
  let bestBytes = 0;
  cluster.members.forEach((m, i) => {
    const moved = (after[i] ?? 0) - (before[i] ?? 0);
    if (m.running && !m.paused && moved > bestBytes) {
      best = i;
      bestBytes = moved;
    }
  });
  return cluster.members[best] ?? fallback;
}

/**
 * Stalls `member` for `ms` with the workers' requests inside it (see the module comment). Proxies of
 * workers in `busy` (under a worker fault of their own) are left to that fault.
 */
export async function stallMember(
  cluster: EtcdCluster,
  member: EtcdMember,
  workers: readonly NemesisWorker[],
  busy: ReadonlySet<string>,
  ms: number,
): Promise<void> {
  const index = cluster.members.indexOf(member);
  // Proxies of workers under a fault of their own are left to it (its end passes them again).
  const paths = workers.filter((w) => !busy.has(w.name)).map((w) => w.proxies[index]);
  const ownerOf = new Map(workers.map((w) => [w.proxies[index], w.name]));
  const stall = await stallApply(member, paths, Math.min(300, ms));
  await sleep(Math.max(0, ms - 300));
  await stall.release(500, (p) => !busy.has(ownerOf.get(p) ?? ''));
}

/** Kills `member` for `ms` and restarts it with its data (also the "member down for a minute" phase). */
export async function killMember(member: EtcdMember, ms: number): Promise<void> {
  await member.kill();
  await sleep(ms);
  await member.restart();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
