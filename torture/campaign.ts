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
import { readFinal, probeNames } from './final.js';
import type { CheckResult, FinalState, HistoryEntry, Violation } from './history.js';
import { monoNow, parseHistory } from './history.js';
import { workerWithLiveChild } from './check/cli-overlap.js';
import { FAULT_KINDS, Nemesis, SCHEDULED_KINDS, type FaultKind, type FaultRecord } from './nemesis.js';
import { MUTEX_NAME, NAMESPACE } from './names.js';
import { PROFILES, type Profile } from './profiles.js';

export { PROFILES, type Profile };

export interface CampaignOptions {
  profile: Profile;
  seed: number;
  /** How long the nemesis runs. */
  nemesisMs: number;
  /** Run the mutex workers without `guard()` (the negative control). */
  unguarded?: boolean;
  /** Override the profile's member-down phase (ms; 0: none). */
  memberDownMs?: number;
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
  /** Violations of checkers the profile gates (see `Profile.gated`): reported, not counted. */
  gated: Array<Violation & { reason: string }>;
  /** Fault kinds the profile does not inject yet, and why (see `Profile.gatedKinds`). */
  gatedKinds: Partial<Record<FaultKind, string>>;
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
  'observe-converged',
  // A key left by an attempt of unknown outcome must be gone within a bounded time (issue 15).
  'ghost-key',
  'follower-ahead',
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
        const info = { name, recipe: spec.recipe, role: spec.role, callers: spec.callers ?? 1 };
        workers.push(await spawnWorker(cluster, dir, info, opts));
      }
    }
    await Promise.all(workers.map((w) => w.child.waitForLine(/^ready$/, 120_000)));
    log(`${workers.length} workers ready`);

    const { workerRecipes, targetLockHolder, targetCliChild, ...nemesisOpts } = opts.profile.nemesis;
    const gatedKinds = opts.profile.gatedKinds ?? {};
    nemesisOpts.kinds = (nemesisOpts.kinds ?? SCHEDULED_KINDS).filter((k) => !(k in gatedKinds));
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
    const downMs = opts.memberDownMs ?? opts.profile.memberDownMs ?? 0;
    if (downMs > 0) {
      log(`member-down phase: one member killed for ${downMs} ms, nothing else wrong`);
      await nemesis.memberDown(downMs);
    }
    log('healed; quiescing workers');
    for (const w of workers) w.child.kill('SIGUSR1');
    // The store may have been reset under the old admin (its session and watches are gone): a new one.
    await admin.close().catch(() => undefined);
    admin = await connect({ endpoints: cluster.endpoints, namespace: NAMESPACE, ttlSeconds: 5 });
    const faults = nemesis.faults;

    const infos = workers.map((w) => w.info);
    let final: FinalState = await readFinal(admin);
    let results: CheckResult[] = [];
    const convergeUntil = Date.now() + opts.profile.convergeMs;
    for (let round = 1; ; round++) {
      await sleep(round === 1 ? 3_000 : 2_000);
      final = await readFinal(admin);
      for (const w of workers) w.child.kill('SIGUSR2');
      await sleep(1_000);
      // The revision the followers are compared with is read after they reported.
      final.revision = (await readFinal(admin)).revision;
      results = checkAll(await readHistories(workers), final, infos, faults);
      // Safety violations never heal; only eventual properties are worth waiting for.
      const gated = opts.profile.gated ?? {};
      const bad = results.reduce(
        (n, r) =>
          n +
          r.violations.filter(
            (v) =>
              CONVERGENCE_INVARIANTS.has(v.invariant) &&
              gated[`${v.recipe}/${v.invariant}`] === undefined &&
              gated[`${v.recipe}/*`] === undefined,
          ).length,
        0,
      );
      // Re-read: a state that moved while the readers reported is not a fair comparison.
      const again = await readFinal(admin);
      const moved = JSON.stringify({ ...again, revision: '' }) !== JSON.stringify({ ...final, revision: '' });
      if ((bad === 0 && !moved) || Date.now() > convergeUntil) break;
      log(`converging (round ${round}: ${bad} open violation(s)${moved ? ', state moved' : ''})`);
    }

    final.probes = await probeNames(admin);
    results = checkAll(await readHistories(workers), final, infos, faults);
    const gated = gate(results, opts.profile.gated ?? {});

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
      gated,
      gatedKinds,
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
  info: WorkerInfo & { callers?: number },
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
      TORTURE_CALLERS: String(info.callers ?? 1),
      TORTURE_CONTROLS: (opts.profile.controls ?? []).join(','),
    },
  });
  return { info, child, proxies, history };
}

async function readHistories(workers: readonly RunningWorker[]): Promise<HistoryEntry[]> {
  const all = await Promise.all(workers.map(async (w) => parseHistory(await readFile(w.history, 'utf8'))));
  return all.flat();
}

/**
 * Moves violations of gated `recipe/invariant`s out of the results (they stay in the report as `gated`),
 * so a profile can run a checker that fires on recipes whose fix is not merged yet.
 */
function gate(results: CheckResult[], gated: Record<string, string>): Array<Violation & { reason: string }> {
  const out: Array<Violation & { reason: string }> = [];
  for (const r of results) {
    r.violations = r.violations.filter((v) => {
      const reason = gated[`${v.recipe}/${v.invariant}`] ?? gated[`${v.recipe}/*`];
      if (reason === undefined) return true;
      out.push({ ...v, reason });
      return false;
    });
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export { FAULT_KINDS };
