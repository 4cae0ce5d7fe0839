/**
 * Multi-permit semaphore on a 3-member cluster (issue 25): clients pinned to different members take 1-3 of
 * 4 permits in a loop while the raft leader is killed -9; an occupancy checker never sees more than 4 in
 * use. Negative control: the same checker sees over-admission when callers take one key but use more.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { PermitChecker } from '../support/occupancy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

describe('semaphore permits on a 3-member cluster', () => {
  const etcd = usePrivateEtcd({ members: 3, useExternal: false });

  async function run(
    label: string,
    claim: (want: number) => { take: number; use: number },
    killLeader: boolean,
  ): Promise<{ checker: PermitChecker; errors: string[]; ns: string }> {
    const ns = uniquePrefix(label);
    const endpoints = etcd.cluster.endpoints;
    // Two clients per member, each talking to its member only: grants are decided on different members.
    const coords: Coordinator[] = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        connect({ endpoints: [endpoints[i % endpoints.length]!], namespace: ns, ttlSeconds: 5 }),
      ),
    );
    const checker = new PermitChecker(4);
    const errors: string[] = [];
    let stop = false;
    let cycles = 0;
    let cyclesAfterKill = 0;
    let killed = false;
    try {
      const loops = coords.map(async (c, w) => {
        const sem = c.semaphore('s', 4);
        for (let i = w; !stop; i++) {
          const { take, use } = claim((i % 3) + 1);
          try {
            const lock = await sem.acquire({ permits: take, timeoutMs: 20_000 });
            checker.enter(use, `client ${w}`);
            await sleep(3 + (i % 4));
            checker.leave(use);
            await lock.release().catch(() => undefined);
            cycles++;
            if (killed) cyclesAfterKill++;
          } catch (err) {
            errors.push((err as { code?: string }).code ?? String(err));
            await sleep(100);
          }
        }
      });
      await waitFor(() => cycles > 40 || checker.violations.length > 0, {
        timeoutMs: 30_000,
        message: 'contention under way',
      });
      if (killLeader) {
        const leader = await etcd.cluster.leader();
        await leader.kill();
        killed = true;
        await waitFor(() => cyclesAfterKill > 40, {
          timeoutMs: 45_000,
          message: 'grants go on after the kill',
        });
        stop = true;
        await Promise.all(loops);
        await leader.restart();
        await etcd.cluster.waitHealthy();
      } else {
        stop = true;
        await Promise.all(loops);
      }
    } finally {
      stop = true;
      await Promise.all(coords.map((c) => c.close()));
    }
    return { checker, errors, ns };
  }

  it('never more than 4 permits in use, through a leader kill; no key leaks', async () => {
    const { checker, ns } = await run('sem-cluster', (want) => ({ take: want, use: want }), true);
    expect(checker.violations).toEqual([]);
    expect(checker.max).toBeGreaterThan(1);
    const client = etcd.cluster.client();
    try {
      await waitFor(async () => (await client.getAll().prefix(`${ns}s/`).keys()).length === 0, {
        timeoutMs: 15_000,
        message: 'no permit key left',
      });
    } finally {
      client.close();
    }
  }, 120_000);

  it('negative control: callers that take 1 key but use up to 3 permits are caught', async () => {
    const { checker } = await run('sem-cluster-control', (want) => ({ take: 1, use: want }), false);
    expect(checker.violations.length).toBeGreaterThan(0);
  }, 60_000);
});
