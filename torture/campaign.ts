/**
 * One fault campaign: a 3-member cluster, worker processes for every recipe (each behind its own
 * fault proxies, one per member), a seeded nemesis, then heal → quiesce → converge → check.
 * Used by `run.ts` (the CLI) and by the CI test.
 *
 * @module
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Coordinator } from '../src/index.js';
import { startEtcd, type EtcdCluster } from '../test/support/etcd.js';
import { spawnNode, type ChildHandle } from '../test/support/node-child.js';
import { FaultProxy } from '../test/support/proxy.js';
import { checkAll, type WorkerInfo } from './check/index.js';
import type { CheckResult, FinalState, HistoryEntry } from './history.js';
import { monoNow, parseHistory } from './history.js';
import { workerWithLiveChild } from './check/cli-overlap.js';
import { FAULT_KINDS, Nemesis, type FaultKind, type FaultRecord, type NemesisOptions } from './nemesis.js';
import {
  ATOMIC_NAME,
  CONFIG_PREFIX,
  COUNTER_NAME,
  DEAD_LETTER,
  MUTEX_COUNT_KEY,
  MUTEX_NAME,
  NAMESPACE,
  QUEUE,
  QUEUE_OPTIONS,
  SERVICE,
} from './names.js';

/** How many workers of each recipe/role, and how the nemesis behaves. */
export interface Profile {
  name: string;
  workers: Array<{ recipe: WorkerInfo['recipe']; role: string; count: number }>;
  nemesis: Omit<NemesisOptions, 'seed' | 'log' | 'workerFilter' | 'pickWorker'> & {
    workerRecipes?: WorkerInfo['recipe'][];
    /** Aim worker faults at the mutex's current holder (the negative control). */
    targetLockHolder?: boolean;
    /** Aim worker faults at the CLI worker whose child runs now (the CLI negative control). */
    targetCliChild?: boolean;
  };
  /** How long to wait, after healing, for caches and the queue to converge. */
  convergeMs: number;
}

/** `etcd-coord lock|elect|once` supervisors whose children ignore SIGTERM (issue 14). */
const CLI_WORKERS: Profile['workers'] = [
  { recipe: 'cli-lock', role: 'holder', count: 2 },
  { recipe: 'cli-elect', role: 'candidate', count: 2 },
  { recipe: 'cli-once', role: 'runner', count: 2 },
];

export const PROFILES = {
  full: {
    name: 'full',
    workers: [
      { recipe: 'mutex', role: 'worker', count: 3 },
      { recipe: 'election', role: 'candidate', count: 3 },
      { recipe: 'registry', role: 'registrar', count: 2 },
      { recipe: 'registry', role: 'discovery', count: 2 },
      { recipe: 'config', role: 'writer', count: 1 },
      { recipe: 'config', role: 'reader', count: 2 },
      { recipe: 'queue', role: 'producer', count: 1 },
      { recipe: 'queue', role: 'consumer', count: 2 },
      { recipe: 'counter', role: 'worker', count: 2 },
      ...CLI_WORKERS,
    ],
    nemesis: { gapMs: [1_500, 4_500], durationMs: [500, 5_000] },
    convergeMs: 90_000,
  },
  ci: {
    name: 'ci',
    workers: [
      { recipe: 'mutex', role: 'worker', count: 2 },
      { recipe: 'election', role: 'candidate', count: 2 },
      { recipe: 'registry', role: 'registrar', count: 1 },
      { recipe: 'registry', role: 'discovery', count: 1 },
      { recipe: 'config', role: 'writer', count: 1 },
      { recipe: 'config', role: 'reader', count: 1 },
      { recipe: 'queue', role: 'producer', count: 1 },
      { recipe: 'queue', role: 'consumer', count: 1 },
      { recipe: 'counter', role: 'worker', count: 1 },
    ],
    nemesis: { gapMs: [3_500, 5_000], durationMs: [500, 3_500] },
    convergeMs: 90_000,
  },
  /** CLI supervisor workers only (`--unguarded` is their negative control). */
  cli: {
    name: 'cli',
    workers: CLI_WORKERS,
    nemesis: { gapMs: [1_500, 4_500], durationMs: [500, 5_000] },
    convergeMs: 30_000,
  },
  /** The CLI negative control (with `--unguarded`): long blackholes of the worker whose child runs. */
  'cli-control': {
    name: 'cli-control',
    workers: CLI_WORKERS,
    nemesis: {
      kinds: ['blackhole'],
      gapMs: [4_500, 6_000],
      durationMs: [3_500, 5_000],
      targetCliChild: true,
    },
    convergeMs: 30_000,
  },
  /** The negative control's fast form: mutex workers only, long pauses of lock holders. */
  control: {
    name: 'control',
    workers: [{ recipe: 'mutex', role: 'worker', count: 3 }],
    nemesis: {
      kinds: ['pause-worker'],
      gapMs: [4_500, 5_500],
      durationMs: [3_000, 4_000],
      targetLockHolder: true,
    },
    convergeMs: 30_000,
  },
} satisfies Record<string, Profile>;

export interface CampaignOptions {
  profile: Profile;
  seed: number;
  /** How long the nemesis runs. */
  nemesisMs: number;
  /** Run the mutex workers without `guard()` (the negative control). */
  unguarded?: boolean;
  log?: (line: string) => void;
}

export interface CampaignReport {
  seed: number;
  profile: string;
  unguarded: boolean;
  startedAt: string;
  durationMs: number;
  nemesisMs: number;
  load: { cpus: number; before: number[]; after: number[] };
  workers: WorkerInfo[];
  faultsByKind: Record<FaultKind, number>;
  faults: FaultRecord[];
  final: FinalState;
  results: CheckResult[];
  operations: number;
  violations: number;
  /** Recipes whose checker reported violations: 'mutex', … */
  violatedRecipes: string[];
  /** Per-worker last stderr lines of workers that crashed. */
  workerErrors: Record<string, string>;
}

interface RunningWorker {
  info: WorkerInfo;
  child: ChildHandle;
  proxies: FaultProxy[];
  history: string;
}

/** Invariants about eventual state: the runner waits (up to `convergeMs`) for them to hold. */
const CONVERGENCE_INVARIANTS = new Set([
  'cache-converged',
  'registration-restored',
  'final-value',
  'acked',
  'drained',
]);

const WORKER_DIR = fileURLToPath(new URL('./workers/', import.meta.url));

export async function runCampaign(opts: CampaignOptions): Promise<CampaignReport> {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const loadBefore = loadavg();
  const dir = await mkdtemp(join(tmpdir(), 'etcd-coord-torture-'));
  let cluster: EtcdCluster | undefined;
  let admin: Coordinator | undefined;
  const workers: RunningWorker[] = [];
  try {
    cluster = await startEtcd({ members: 3, useExternal: false });
    log(`cluster up: ${cluster.endpoints.join(',')}`);
    admin = await connect({ endpoints: cluster.endpoints, namespace: NAMESPACE, ttlSeconds: 5 });
    for (const spec of opts.profile.workers) {
      for (let i = 1; i <= spec.count; i++) {
        const name = `${spec.recipe}-${spec.role}-${i}`;
        workers.push(await spawnWorker(cluster, dir, { name, recipe: spec.recipe, role: spec.role }, opts));
      }
    }
    await Promise.all(workers.map((w) => w.child.waitForLine(/^ready$/, 120_000)));
    log(`${workers.length} workers ready`);

    const { workerRecipes, targetLockHolder, targetCliChild, ...nemesisOpts } = opts.profile.nemesis;
    const holderOf = async (): Promise<string | undefined> => {
      const holder = await admin?.mutex(MUTEX_NAME).holder();
      if (holder === null || holder === undefined) return undefined;
      const token = holder.fencingToken.toString();
      // The worker writes its grant right after lock() resolves: look twice.
      for (let i = 0; i < 2; i++) {
        const grant = (await readHistories(workers)).find(
          (e) => e.op === 'lock' && e.outcome === 'ok' && String(e.details['token']) === token,
        );
        if (grant !== undefined) return grant.worker;
        await sleep(30);
      }
      return undefined;
    };
    const byName = new Map(workers.map((w) => [w.info.name, w]));
    const nemesis = new Nemesis(
      cluster,
      workers.map((w) => ({
        name: w.info.name,
        proxies: w.proxies,
        pause: () => w.child.pause(),
        resume: () => w.child.resume(),
      })),
      {
        ...nemesisOpts,
        seed: opts.seed,
        log,
        workerFilter: (n) =>
          workerRecipes === undefined || workerRecipes.includes(byName.get(n)?.info.recipe ?? 'mutex'),
        ...(targetLockHolder === true ? { pickWorker: () => holderOf().catch(() => undefined) } : {}),
        ...(targetCliChild === true
          ? { pickWorker: async () => workerWithLiveChild(await readHistories(workers), monoNow()) }
          : {}),
      },
    );
    await nemesis.run(opts.nemesisMs);
    log('nemesis done; healing');
    await nemesis.heal();
    log('healed; quiescing workers');
    for (const w of workers) w.child.kill('SIGUSR1');

    const infos = workers.map((w) => w.info);
    let final: FinalState = await readFinal(admin);
    let results: CheckResult[] = [];
    const convergeUntil = Date.now() + opts.profile.convergeMs;
    for (let round = 1; ; round++) {
      await sleep(round === 1 ? 3_000 : 2_000);
      final = await readFinal(admin);
      for (const w of workers) w.child.kill('SIGUSR2');
      await sleep(1_000);
      results = checkAll(await readHistories(workers), final, infos);
      // Safety violations never heal; only eventual properties are worth waiting for.
      const bad = results.reduce(
        (n, r) => n + r.violations.filter((v) => CONVERGENCE_INVARIANTS.has(v.invariant)).length,
        0,
      );
      // Re-read: a state that moved while the readers reported is not a fair comparison.
      const again = await readFinal(admin);
      const moved = JSON.stringify(again) !== JSON.stringify(final);
      if ((bad === 0 && !moved) || Date.now() > convergeUntil) break;
      log(`converging (round ${round}: ${bad} open violation(s)${moved ? ', state moved' : ''})`);
    }

    const workerErrors: Record<string, string> = {};
    await Promise.all(
      workers.map(async (w) => {
        const exit = await w.child.stop();
        if (exit.code !== 0)
          workerErrors[w.info.name] = `exit ${exit.code ?? exit.signal}: ${w.child.stderr().slice(-2000)}`;
      }),
    );
    const violations = results.reduce((n, r) => n + r.violations.length, 0);
    return {
      seed: opts.seed,
      profile: opts.profile.name,
      unguarded: opts.unguarded === true,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      nemesisMs: opts.nemesisMs,
      load: { cpus: cpus().length, before: loadBefore, after: loadavg() },
      workers: infos,
      faultsByKind: nemesis.countsByKind(),
      faults: nemesis.faults,
      final,
      results,
      operations: results.reduce((n, r) => n + r.operations, 0),
      violations,
      violatedRecipes: results.filter((r) => r.violations.length > 0).map((r) => r.recipe),
      workerErrors,
    };
  } finally {
    await Promise.allSettled(workers.map((w) => w.child.stop()));
    await Promise.allSettled(workers.flatMap((w) => w.proxies.map((p) => p.close())));
    await admin?.close().catch(() => undefined);
    await cluster?.stop();
    if (process.env['TORTURE_KEEP_HISTORIES'] === '1') log(`histories kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

async function spawnWorker(
  cluster: EtcdCluster,
  dir: string,
  info: WorkerInfo,
  opts: CampaignOptions,
): Promise<RunningWorker> {
  const proxies = await Promise.all(cluster.endpoints.map((e) => FaultProxy.start(e)));
  const history = join(dir, `${info.name}.jsonl`);
  await writeFile(history, '');
  const child = spawnNode(join(WORKER_DIR, `${info.recipe}.ts`), [], {
    env: {
      TORTURE_ENDPOINTS: proxies.map((p) => p.endpoint).join(','),
      TORTURE_NAMESPACE: NAMESPACE,
      TORTURE_HISTORY: history,
      TORTURE_WORKER: info.name,
      TORTURE_ROLE: info.role,
      TORTURE_SEED: String(opts.seed),
      TORTURE_UNGUARDED: opts.unguarded === true ? '1' : '0',
    },
  });
  return { info, child, proxies, history };
}

async function readHistories(workers: readonly RunningWorker[]): Promise<HistoryEntry[]> {
  const all = await Promise.all(workers.map(async (w) => parseHistory(await readFile(w.history, 'utf8'))));
  return all.flat();
}

async function readFinal(admin: Coordinator): Promise<FinalState> {
  const rangeOf = async (prefix: string): Promise<Array<{ key: string; value: string }>> => {
    const out: Array<{ key: string; value: string }> = [];
    for await (const kv of admin.range(prefix)) {
      out.push({ key: kv.key.toString().slice(prefix.length), value: kv.value.toString() });
    }
    return out;
  };
  const mutex = await rangeOf(MUTEX_COUNT_KEY);
  const config: Record<string, unknown> = {};
  for (const { key, value } of await rangeOf(CONFIG_PREFIX)) config[key] = decode(value);
  return {
    mutexCount: Number(mutex.find((kv) => kv.key === '')?.value ?? 0),
    counter: Number(await admin.counter(COUNTER_NAME).get()),
    atomicCounter: Number(await admin.atomicCounter(ATOMIC_NAME).get()),
    registry: (await rangeOf(`services/${SERVICE}/`)).map((kv) => kv.key).sort(),
    config,
    queueSize: await admin.queue(QUEUE, QUEUE_OPTIONS).size(),
    deadLetterSize: await admin.queue(DEAD_LETTER).size(),
  };
}

function decode(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export { FAULT_KINDS };
