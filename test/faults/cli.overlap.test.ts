import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';
import { shq, startCli, useCli } from '../cli/cli-helper.js';

/**
 * A child that ignores SIGTERM and stamps "<who> start|alive <epoch ms>" every 50 ms until it is killed:
 * its last stamp is (within one beat) when it died, whatever killed it.
 */
function stubborn(who: string, log: string): string[] {
  const stamp = (what: string) => `echo "${who} ${what} $(date +%s%3N)" >> ${shq(log)}`;
  return [
    'sh',
    '-c',
    `trap '' TERM; ${stamp('start')}; echo started; while :; do ${stamp('alive')}; sleep 0.05; done`,
  ];
}

/** A child that stamps its start and exits. */
function quick(who: string, log: string): string[] {
  return ['sh', '-c', `echo "${who} start $(date +%s%3N)" >> ${shq(log)}`];
}

/** The first and last stamp of each process in the log. */
function lifetimes(text: string): Map<string, { first: number; last: number }> {
  const out = new Map<string, { first: number; last: number }>();
  for (const line of text.trim().split('\n')) {
    const [who = '', , at = ''] = line.split(' ');
    const t = Number(at);
    const seen = out.get(who);
    if (seen) seen.last = Math.max(seen.last, t);
    else out.set(who, { first: t, last: t });
  }
  return out;
}

describe(
  'etcd-coord lock/elect/once: a holder cut off from etcd whose child ignores SIGTERM',
  { timeout: 600_000 },
  () => {
    useCli();
    const etcd = usePrivateEtcd({ members: 1, useExternal: false });
    let dir: string;
    let proxy: FaultProxy | undefined;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'cli-overlap-'));
    });
    afterEach(async () => {
      await proxy?.close();
      proxy = undefined;
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    /** How many times each scenario runs (CLI_OVERLAP_RUNS=20 for the acceptance count). */
    const runs = Number(process.env.CLI_OVERLAP_RUNS ?? '1');

    /**
     * Runs the scenario `runs` times. A run where A lost its lock before the blackhole (a loaded machine can
     * starve a 2 s lease) is retried, but its children are checked for overlap all the same.
     */
    async function scenario(head: string[], keys: string, flags: string[], label: string): Promise<void> {
      let done = 0;
      let early = 0;
      const gaps: number[] = [];
      while (done < runs) {
        const r = await attempt(head, keys, flags, `${label}-${done + early}`);
        gaps.push(r.gap);
        if (r.blackholed) done++;
        else expect(++early, 'runs where A lost its lock before the blackhole').toBeLessThanOrEqual(runs);
      }
      if (runs > 1)
        console.log(
          `${label}: ${done} runs (+${early} early losses), 0 overlaps, gaps ms: ${gaps.join(' ')}`,
        );
    }

    async function attempt(
      head: string[],
      keys: string,
      flags: string[],
      label: string,
    ): Promise<{ blackholed: boolean; gap: number }> {
      const prefix = uniquePrefix(label);
      const log = join(dir, `${label}.log`);
      proxy = await FaultProxy.start(etcd.cluster.endpoints[0] ?? '');
      const common = ['--namespace', prefix, ...head, ...flags, '--'];
      const a = startCli(['--endpoints', proxy.endpoint, ...common, ...stubborn('A', log)]);
      await a.waitForLine(/^started$/, 30_000);
      const b = startCli(['--endpoints', etcd.cluster.endpoints.join(','), ...common, ...quick('B', log)]);
      const client = etcd.cluster.client();
      let aEnded = false;
      void a.exited.then(() => (aEnded = true));
      const queued = await waitFor(
        async () =>
          aEnded || (await client.getAll().prefix(`${prefix}${keys}`).keys()).length >= 2 ? true : undefined,
        { timeoutMs: 30_000, message: 'both holder keys' },
      ).then(() => !aEnded);

      if (queued) proxy.blackhole();
      const [ea, eb] = await Promise.all([a.exited, b.exited]);
      await proxy.close();
      proxy = undefined;
      if (queued) {
        expect(ea.code, a.stderr()).toBe(79);
        expect(eb.code, b.stderr()).toBe(0);
      }
      const life = lifetimes(await readFile(log, 'utf8'));
      const holder = life.get('A');
      const next = life.get('B');
      if (!queued && (holder === undefined || next === undefined)) return { blackholed: false, gap: NaN };
      expect(holder && next, 'both children stamped').toBeTruthy();
      // The invariant: the first holder's child (and its group) was dead before the next child started.
      const gap = (next?.first ?? 0) - (holder?.last ?? Infinity);
      expect(
        gap,
        `A's last sign of life ${holder?.last ?? 0}, B started ${next?.first ?? 0}`,
      ).toBeGreaterThan(0);
      return { blackholed: queued, gap };
    }

    it("lock --ttl 2 (default --kill-after): the two holders' children never overlap", async () => {
      await scenario(['lock', 'job'], 'job/', ['--ttl', '2'], 'lock-ttl2');
    });

    it("lock with default flags (--ttl 10): the two holders' children never overlap", async () => {
      await scenario(['lock', 'job'], 'job/', [], 'lock-defaults');
    });

    it("elect --ttl 2: the two leaders' children never overlap", async () => {
      await scenario(['elect', 'job'], 'job/', ['--ttl', '2'], 'elect-ttl2');
    });

    it("once --ttl 2: the crashed run's child and the re-run never overlap", async () => {
      await scenario(['once', 'job', '--slot', 's1'], 'once/job/s1/lock/', ['--ttl', '2'], 'once-ttl2');
    });
  },
);
