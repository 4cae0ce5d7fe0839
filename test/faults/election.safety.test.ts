/**
 * Acceptance 1: at most one leader at any time, checked through the fencing order of guarded writes made
 * by candidate *processes* (test/workers/election-candidate.ts), across resignations, kill -9 and SIGSTOP
 * of the leader process, kill -9 of the raft leader, and a full restart of every etcd member (etcd3#158).
 *
 * The invariant: ordered by etcd revision, the successful guarded writes `w/<token>-<n>` have
 * non-decreasing tokens (once a newer term wrote, an older one never writes again), each token belongs
 * to one process, and each process reported `elected` for the tokens it wrote with. A write is guarded
 * only by the writer's own key (`term.guardCompare()`), so two processes told they lead at once (both
 * keys alive) would interleave their writes and fail the check.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { spawnNode, uniquePrefix, usePrivateEtcd, waitFor, type ChildHandle } from '../support/shared.js';

const WORKER = 'test/workers/election-candidate.ts';

interface Run {
  prefix: string;
  workers: ChildHandle[];
  spawn(id: string, resignAfter?: number): ChildHandle;
  /** The worker whose lease holds the leader key now. */
  leaderWorker(): Promise<ChildHandle>;
  /** Resolves once `count` distinct tokens have written. */
  waitForTerms(count: number, timeoutMs?: number): Promise<void>;
  stopAll(): Promise<void>;
}

function startRun(client: Etcd3, endpoints: string[], label: string): Run {
  const prefix = uniquePrefix(label);
  const workers: ChildHandle[] = [];
  const run: Run = {
    prefix,
    workers,
    spawn(id, resignAfter) {
      const w = spawnNode(
        WORKER,
        ['leader', id, ...(resignAfter === undefined ? [] : [String(resignAfter)])],
        {
          env: { ETCD_ENDPOINTS: endpoints.join(','), COORD_NAMESPACE: prefix, COORD_TTL: '2' },
        },
      );
      workers.push(w);
      return w;
    },
    async leaderWorker() {
      const found = await waitFor(
        async () => {
          const kvs = await client
            .getAll()
            .prefix(`${prefix}leader/`)
            .sort('Create', 'Ascend')
            .limit(1)
            .keys();
          const hex = kvs[0]?.slice(`${prefix}leader/`.length);
          if (hex === undefined) return undefined;
          return workers.find((w) => w.output.some((l) => l.startsWith('elected ') && l.endsWith(` ${hex}`)));
        },
        { timeoutMs: 20_000, message: 'a worker holds the leader key' },
      );
      return found!;
    },
    async waitForTerms(count, timeoutMs = 30_000) {
      await waitFor(async () => (await check(client, prefix, workers)).tokens >= count, {
        timeoutMs,
        message: `${count} terms wrote`,
      });
    },
    async stopAll() {
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
  return run;
}

/** Verifies the fencing order; returns how many distinct terms wrote. */
async function check(
  client: Etcd3,
  prefix: string,
  workers: ChildHandle[],
): Promise<{ tokens: number; writes: number }> {
  const res = await client.getAll().prefix(`${prefix}w/`).exec();
  const writes = res.kvs
    .map((kv) => ({
      rev: BigInt(kv.mod_revision),
      token: BigInt(kv.key.toString().slice(`${prefix}w/`.length).split('-')[0]!),
      id: kv.value.toString(),
    }))
    .sort((a, b) => (a.rev < b.rev ? -1 : 1));
  const owner = new Map<bigint, string>();
  let newest = 0n;
  for (const w of writes) {
    if (w.token < newest)
      throw new Error(`term ${w.token} wrote at revision ${w.rev} after term ${newest} had written`);
    newest = w.token;
    const seen = owner.get(w.token);
    if (seen !== undefined && seen !== w.id)
      throw new Error(`term ${w.token} written by ${seen} and ${w.id}`);
    owner.set(w.token, w.id);
  }
  for (const [token, id] of owner) {
    const worker = workers.find((w) => w.output[0] === `ready ${id}`);
    if (worker && !worker.output.some((l) => l.startsWith(`elected ${token} `))) {
      throw new Error(`worker ${id} wrote with term ${token} without reporting it elected`);
    }
  }
  return { tokens: owner.size, writes: writes.length };
}

describe('election: at most one leader (candidate processes, 3-member cluster)', () => {
  const etcd = usePrivateEtcd({ members: 3 });

  async function withRun(label: string, body: (run: Run, client: Etcd3) => Promise<void>): Promise<void> {
    const client = etcd.cluster.client();
    const run = startRun(client, etcd.cluster.endpoints, label);
    try {
      await body(run, client);
      await run.stopAll();
      const result = await check(client, run.prefix, run.workers);
      expect(result.tokens).toBeGreaterThanOrEqual(2);
    } finally {
      await run.stopAll();
      await etcd.cluster.deletePrefix(run.prefix).catch(() => undefined);
    }
  }

  it('resignations: candidates that resign after 5 writes hand over in turn', async () => {
    await withRun('el-resign', async (run) => {
      for (let i = 0; i < 4; i++) run.spawn(`r${i}`, 5);
      await run.waitForTerms(12);
    });
  });

  it('kill -9 of the leader process: another takes over after the TTL', async () => {
    await withRun('el-kill', async (run) => {
      for (let i = 0; i < 3; i++) run.spawn(`k${i}`);
      await run.waitForTerms(1);
      for (let round = 0; round < 2; round++) {
        const leader = await run.leaderWorker();
        leader.kill('SIGKILL');
        await leader.exited;
        run.spawn(`k-new${round}`);
        await run.waitForTerms(round + 2);
      }
    });
  });

  it('SIGSTOP of the leader process past its TTL: it learns it lost on SIGCONT and never writes as leader again', async () => {
    await withRun('el-stop', async (run, client) => {
      for (let i = 0; i < 3; i++) run.spawn(`s${i}`);
      await run.waitForTerms(1);
      const leader = await run.leaderWorker();
      const elected = leader.output.filter((l) => l.startsWith('elected ')).at(-1)!;
      const token = elected.split(' ')[1]!;
      leader.pause();
      await run.waitForTerms(2);
      await sleep(500); // let the new leader write a few times
      leader.resume();
      await leader.waitForLine((l) => l.startsWith(`lost ${token} `), 20_000);
      await sleep(500);
      await check(client, run.prefix, run.workers);
    });
  });

  it('kill -9 of the raft leader: at most one election leader throughout', async () => {
    await withRun('el-raft', async (run) => {
      for (let i = 0; i < 3; i++) run.spawn(`f${i}`, 30);
      await run.waitForTerms(2);
      const raftLeader = await etcd.cluster.leader();
      await raftLeader.kill();
      const before = run.workers.flatMap((w) => w.output.filter((l) => l.startsWith('elected '))).length;
      await waitFor(
        () =>
          run.workers.flatMap((w) => w.output.filter((l) => l.startsWith('elected '))).length >= before + 2,
        {
          timeoutMs: 30_000,
          message: 'two more terms after the raft leader died',
        },
      );
      await raftLeader.restart();
      await etcd.cluster.waitHealthy();
    });
  });

  it('full restart of every etcd member: still at most one leader (etcd3#158)', async () => {
    await withRun('el-restart', async (run) => {
      for (let i = 0; i < 3; i++) run.spawn(`x${i}`);
      await run.waitForTerms(1);
      await Promise.all(etcd.cluster.members.map((m) => m.kill()));
      await sleep(500);
      await Promise.all(etcd.cluster.members.map((m) => m.restart()));
      await etcd.cluster.waitHealthy();
      const leader = await run.leaderWorker();
      // The current leader's lease outlived the restart or a new one was elected: either way, force a handover.
      leader.kill('SIGKILL');
      await run.waitForTerms(2);
    });
  });
});
