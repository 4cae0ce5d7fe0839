/**
 * The nemesis: injects faults at random (from a seed) into a 3-member cluster and the workers, and
 * records each one on the monotonic clock. Every fault heals itself after its duration; `heal()`
 * waits for that and then makes sure everything is running, resumed and passing traffic.
 *
 * Kinds are drawn from a shuffled "bag" holding each enabled kind once, refilled when empty, so every
 * kind is injected in any run with at least as many faults as kinds.
 *
 * @module
 */
import type { EtcdCluster, EtcdMember } from '../test/support/etcd.js';
import type { FaultProxy } from '../test/support/proxy.js';
import { monoNow } from './history.js';
import { Prng } from './prng.js';

export const FAULT_KINDS = [
  'kill-member',
  'kill-leader',
  'pause-member',
  'pause-worker',
  'blackhole',
  'reset',
  'compact',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One injected fault: what, on whom, and when (monotonic ms, see `monoNow`). */
export interface FaultRecord {
  kind: FaultKind;
  target: string;
  start: number;
  end: number;
  error?: string;
}

/** A worker process as the nemesis sees it. */
export interface NemesisWorker {
  readonly name: string;
  pause(): void;
  resume(): void;
  readonly proxies: readonly FaultProxy[];
}

export interface NemesisOptions {
  seed: number;
  /** Kinds to inject (default all). */
  kinds?: readonly FaultKind[];
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
      const kind = this.#nextKind();
      const p = this.#inject(kind).catch((err: unknown) =>
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

  #nextKind(): FaultKind {
    const kinds = this.#opts.kinds ?? FAULT_KINDS;
    for (let tries = 0; tries < kinds.length * 2; tries++) {
      if (this.#bag.length === 0) this.#bag = this.#rng.shuffle(kinds);
      const kind = this.#bag[0] as FaultKind;
      const memberFault = kind === 'kill-member' || kind === 'kill-leader' || kind === 'pause-member';
      const workerFault = kind === 'pause-worker' || kind === 'blackhole' || kind === 'reset';
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

  async #inject(kind: FaultKind): Promise<void> {
    const start = monoNow();
    const record = (target: string, error?: string): void => {
      const f: FaultRecord = { kind, target, start, end: monoNow() };
      if (error !== undefined) f.error = error;
      this.faults.push(f);
      this.#opts.log?.(
        `fault ${kind} ${target} ${Math.round(f.end - f.start)} ms${error ? ` (${error})` : ''}`,
      );
    };
    switch (kind) {
      case 'compact': {
        try {
          const rev = await this.#cluster.compact();
          record(`revision ${rev}`);
        } catch (err) {
          record('store', String(err));
        }
        return;
      }
      case 'kill-member':
      case 'kill-leader':
      case 'pause-member': {
        this.#memberBusy = true;
        const ms = this.#duration();
        let member: EtcdMember | undefined;
        try {
          member =
            kind === 'kill-leader'
              ? await this.#cluster.leader()
              : this.#rng.pick(this.#cluster.members.filter((m) => m.running && !m.paused));
          if (kind === 'pause-member') {
            member.pause();
            await sleep(ms);
            member.resume();
          } else {
            await member.kill();
            await sleep(ms);
            await member.restart();
          }
          record(member.name);
        } catch (err) {
          record(member?.name ?? 'member', String(err));
        } finally {
          this.#memberBusy = false;
        }
        return;
      }
      case 'pause-worker':
      case 'blackhole':
      case 'reset': {
        const free = this.#freeWorkers();
        const random = this.#rng.pick(free);
        const chosen = await this.#opts.pickWorker?.(free.map((w) => w.name));
        const worker = free.find((w) => w.name === chosen && !this.#busyWorkers.has(w.name)) ?? random;
        if (kind === 'reset') {
          for (const p of worker.proxies) p.reset();
          record(worker.name);
          return;
        }
        this.#busyWorkers.add(worker.name);
        const ms = this.#duration();
        try {
          if (kind === 'pause-worker') {
            worker.pause();
            await sleep(ms);
            worker.resume();
          } else {
            for (const p of worker.proxies) p.blackhole();
            await sleep(ms);
            for (const p of worker.proxies) p.pass();
          }
          record(worker.name);
        } finally {
          this.#busyWorkers.delete(worker.name);
        }
        return;
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
