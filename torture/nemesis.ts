/**
 * The nemesis: injects faults at random (from a seed) into a 3-member cluster and the workers, and
 * records each one on the monotonic clock. Every fault heals itself after its duration; `heal()`
 * waits for that and then makes sure everything is running, resumed and passing traffic.
 *
 * Kinds are drawn from a shuffled "bag" holding each enabled kind once (rare kinds, see
 * {@link DEFAULT_WEIGHTS}, only in some refills), refilled when empty, so every common kind is injected
 * in any run with at least as many faults as kinds. What each kind does is in `faults.ts`.
 *
 * @module
 */
import type { EtcdCluster, EtcdMember } from '../test/support/etcd.js';
import { busiestMember, killMember, sleep, stallMember, workerFault, type NemesisWorker } from './faults.js';
import { monoNow } from './history.js';
import { Prng } from './prng.js';

export type { NemesisWorker } from './faults.js';

export const FAULT_KINDS = [
  'kill-member',
  'kill-leader',
  'pause-member',
  'stall-member',
  'wipe-member',
  'wipe-cluster',
  'pause-worker',
  'blackhole',
  'drop-replies',
  'reset',
  'compact',
  'member-down',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The kinds the random schedule draws from; `member-down` is a phase of its own ({@link Nemesis.memberDown}). */
export const SCHEDULED_KINDS: readonly FaultKind[] = FAULT_KINDS.filter((k) => k !== 'member-down');

/**
 * Empty-data restarts are rare: the chance that a kind is put into each refill of the bag (others: 1).
 * A cluster wipe loses every key, so each one leaves the recipes little history to check between.
 */
export const DEFAULT_WEIGHTS: Partial<Record<FaultKind, number>> = {
  'wipe-member': 0.5,
  'wipe-cluster': 0.25,
};

const MEMBER_KINDS = new Set<FaultKind>([
  'kill-member',
  'kill-leader',
  'pause-member',
  'stall-member',
  'wipe-member',
  'wipe-cluster',
]);
const WORKER_KINDS = new Set<FaultKind>(['pause-worker', 'blackhole', 'drop-replies', 'reset']);

/** One injected fault: what, on whom, and when (monotonic ms, see `monoNow`). */
export interface FaultRecord {
  kind: FaultKind;
  target: string;
  start: number;
  end: number;
  error?: string;
}

export interface NemesisOptions {
  seed: number;
  /** Kinds to inject (default {@link SCHEDULED_KINDS}). */
  kinds?: readonly FaultKind[];
  /** Per-kind chance of being in each refill of the bag (default {@link DEFAULT_WEIGHTS}). */
  weights?: Partial<Record<FaultKind, number>>;
  /** Gap between fault starts, ms. */
  gapMs: [number, number];
  /** How long a fault lasts before it heals itself, ms. */
  durationMs: [number, number];
  /** Which workers worker faults may hit (default all). */
  workerFilter?: (name: string) => boolean;
  /**
   * Chooses the target of a worker fault among the free workers' names (undefined: a random one). The
   * negative control uses it to pause the current lock holder.
   */
  pickWorker?: (free: readonly string[]) => Promise<string | undefined>;
  log?: (line: string) => void;
}

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  readonly #cluster: EtcdCluster;
  readonly #workers: readonly NemesisWorker[];
  readonly #opts: NemesisOptions;
  readonly #rng: Prng;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #busyWorkers = new Set<string>();
  #memberBusy = false;
  #bag: FaultKind[] = [];

  constructor(cluster: EtcdCluster, workers: readonly NemesisWorker[], opts: NemesisOptions) {
    this.#cluster = cluster;
    this.#workers = workers;
    this.#opts = opts;
    this.#rng = new Prng(opts.seed);
  }

  /** Injects faults for `durationMs` (or until `signal` aborts); faults still running keep going. */
  async run(durationMs: number, signal?: AbortSignal): Promise<void> {
    const until = monoNow() + durationMs;
    while (monoNow() < until && signal?.aborted !== true) {
      // Every random choice of a fault is drawn here, in schedule order, never after an await: the
      // sequence of (kind, duration, pick) replays exactly from the seed, whatever the timing.
      const kind = this.#nextKind();
      const ms = this.#duration();
      const pick = this.#rng.next();
      const p = this.#inject(kind, ms, pick).catch((err: unknown) =>
        this.#opts.log?.(`nemesis ${kind}: ${String(err)}`),
      );
      this.#inFlight.add(p);
      void p.finally(() => this.#inFlight.delete(p));
      const [lo, hi] = this.#opts.gapMs;
      await sleep(Math.min(this.#rng.int(lo, hi), Math.max(0, until - monoNow())));
    }
  }

  /** Waits for running faults, then restarts/resumes every member and worker and passes all traffic. */
  async heal(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    for (const w of this.#workers) {
      w.resume();
      for (const p of w.proxies) p.pass();
    }
    for (const m of this.#cluster.members) {
      if (m.paused) m.resume();
      if (!m.running) await m.restart();
    }
    await this.#cluster.waitHealthy(30_000);
  }

  /** Fault counts by kind (kinds never injected count 0). */
  countsByKind(): Record<FaultKind, number> {
    const out = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    for (const f of this.faults) out[f.kind]++;
    return out;
  }

  /**
   * The "member down for a minute" phase (issue 22): one member (drawn from the seed) killed for `ms`
   * while the workers run and no other fault is injected, then restarted. Call after {@link heal}.
   */
  async memberDown(ms: number): Promise<void> {
    const member = this.#rng.pick(this.#cluster.members);
    const start = monoNow();
    let error: string | undefined;
    try {
      await killMember(member, ms);
    } catch (err) {
      error = String(err);
    }
    const f: FaultRecord = { kind: 'member-down', target: member.name, start, end: monoNow() };
    if (error !== undefined) f.error = error;
    this.faults.push(f);
    this.#opts.log?.(
      `phase member-down ${member.name} ${Math.round(f.end - f.start)} ms${error ? ` (${error})` : ''}`,
    );
    await this.#cluster.waitHealthy(30_000);
  }

  #refill(): FaultKind[] {
    const kinds = this.#opts.kinds ?? SCHEDULED_KINDS;
    const weights = this.#opts.weights ?? DEFAULT_WEIGHTS;
    // One draw per kind, always, so the stream of draws does not depend on which kinds made it in.
    const chosen = kinds.filter((k) => this.#rng.next() < (weights[k] ?? 1));
    return this.#rng.shuffle(chosen.length > 0 ? chosen : kinds);
  }

  #nextKind(): FaultKind {
    const kinds = this.#opts.kinds ?? SCHEDULED_KINDS;
    for (let tries = 0; tries < kinds.length * 2; tries++) {
      if (this.#bag.length === 0) this.#bag = this.#refill();
      const kind = this.#bag[0] as FaultKind;
      const memberFault = MEMBER_KINDS.has(kind);
      const workerFault = WORKER_KINDS.has(kind);
      // Keep a quorum: one member fault at a time. A busy kind stays in the bag for the next round.
      if ((memberFault && this.#memberBusy) || (workerFault && this.#freeWorkers().length === 0)) {
        this.#bag.push(this.#bag.shift() as FaultKind);
        continue;
      }
      this.#bag.shift();
      return kind;
    }
    return 'compact';
  }

  #freeWorkers(): NemesisWorker[] {
    const filter = this.#opts.workerFilter ?? (() => true);
    return this.#workers.filter((w) => filter(w.name) && !this.#busyWorkers.has(w.name));
  }

  #duration(): number {
    const [lo, hi] = this.#opts.durationMs;
    return this.#rng.int(lo, hi);
  }

  async #inject(kind: FaultKind, ms: number, pick: number): Promise<void> {
    const start = monoNow();
    const record = (target: string, error?: string): void => {
      const f: FaultRecord = { kind, target, start, end: monoNow() };
      if (error !== undefined) f.error = error;
      this.faults.push(f);
      this.#opts.log?.(
        `fault ${kind} ${target} ${Math.round(f.end - f.start)} ms${error ? ` (${error})` : ''}`,
      );
    };
    const choose = <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError('nothing to choose from');
      return items[Math.floor(pick * items.length)] as T;
    };
    if (kind === 'compact') {
      try {
        record(`revision ${await this.#cluster.compact()}`);
      } catch (err) {
        record('store', String(err));
      }
      return;
    }
    if (MEMBER_KINDS.has(kind)) {
      this.#memberBusy = true;
      let member: EtcdMember | undefined;
      try {
        const up = this.#cluster.members.filter((m) => m.running && !m.paused);
        member = kind === 'kill-leader' ? await this.#cluster.leader() : choose(up);
        switch (kind) {
          case 'pause-member':
            member.pause();
            await sleep(ms);
            member.resume();
            break;
          case 'stall-member':
            member = await busiestMember(this.#cluster, this.#workers, member);
            await stallMember(this.#cluster, member, this.#workers, this.#busyWorkers, ms);
            break;
          case 'wipe-member':
            await this.#cluster.replaceMember(member);
            break;
          case 'wipe-cluster':
            await this.#cluster.restartEmpty();
            record('cluster');
            return;
          default:
            await killMember(member, ms);
        }
        record(member.name);
      } catch (err) {
        record(member?.name ?? 'member', String(err));
      } finally {
        this.#memberBusy = false;
      }
      return;
    }
    const free = this.#freeWorkers();
    const chosen = await this.#opts.pickWorker?.(free.map((w) => w.name));
    const stillFree = free.filter((w) => !this.#busyWorkers.has(w.name));
    const worker = stillFree.find((w) => w.name === chosen) ?? choose(stillFree);
    if (kind === 'reset') {
      for (const p of worker.proxies) p.reset();
      record(worker.name);
      return;
    }
    this.#busyWorkers.add(worker.name);
    try {
      await workerFault(kind as 'pause-worker' | 'blackhole' | 'drop-replies', worker, ms);
      record(worker.name);
    } finally {
      this.#busyWorkers.delete(worker.name);
    }
  }
}
