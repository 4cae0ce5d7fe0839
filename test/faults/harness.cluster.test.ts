/**
 * The fault harness on a 3-member loopback cluster: find and kill -9 the raft leader under load,
 * restart it with its data, SIGSTOP/SIGCONT a follower, and stop everything.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { FaultProxy } from '../support/proxy.js';
import { stallApply } from '../support/stall.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';

/**
 * One put, retried while the cluster elects a new leader. Re-sending a put of the same value is
 * safe even if a "failed" attempt was in fact applied.
 */
async function putWithRetry(client: Etcd3, key: string, value: string, attempts = 20): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client
        .put(key)
        .value(value)
        .options({ deadline: Date.now() + 2_000 })
        .exec();
      return;
    } catch (err) {
      if (attempt >= attempts) throw err;
      await sleep(100);
    }
  }
}

describe('3-member cluster harness', () => {
  const etcd = usePrivateEtcd({ members: 3 });
  const prefix = uniquePrefix('cluster');

  it('leader() returns one of the running members', async () => {
    const { cluster } = etcd;
    expect(cluster.kind).toBe('binary');
    expect(cluster.endpoints).toHaveLength(3);
    const leader = await cluster.leader();
    expect(cluster.members).toContain(leader);
    expect(leader.running).toBe(true);
  });

  it('kill -9 of the leader during puts: a new leader is elected, puts keep succeeding, and the restarted member rejoins with the latest keys', async () => {
    const { cluster } = etcd;
    const client = cluster.client(); // all 3 endpoints: etcd3 fails over between them
    let written = 0;
    let running = true;
    const writer = (async () => {
      for (let i = 0; running; i++) {
        await putWithRetry(client, `${prefix}k${String(i).padStart(5, '0')}`, String(i));
        written = i + 1;
      }
    })();
    try {
      await waitFor(() => written >= 10, { message: '10 puts before the kill' });
      const old = await cluster.leader();
      const oldPid = old.pid;
      await old.kill();
      expect(old.running).toBe(false);
      expect(old.pid).toBeUndefined();
      expect(oldPid).toBeTypeOf('number');

      const next = await cluster.leader();
      expect(next.name).not.toBe(old.name);
      const atKill = written;
      await waitFor(() => written >= atKill + 20, { timeoutMs: 30_000, message: '20 puts after the kill' });
      running = false;
      await writer; // throws if one put failed all its retries

      await old.restart();
      await cluster.waitHealthy();
      expect(old.running).toBe(true);
      const last = written - 1;
      const direct = cluster.client({ endpoints: [old.endpoint] });
      const lastKey = `${prefix}k${String(last).padStart(5, '0')}`;
      // A linearizable read through the restarted member alone: it must have caught up.
      expect(await waitFor(() => direct.get(lastKey).string(), { timeoutMs: 15_000 })).toBe(String(last));
      expect(await direct.getAll().prefix(`${prefix}k`).count()).toBe(written);
    } finally {
      running = false;
      await writer.catch(() => undefined);
    }
  });

  it('pause() of a follower: the quorum keeps serving; after resume() it catches up', async () => {
    const { cluster } = etcd;
    await cluster.waitHealthy();
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m !== leader && m.running);
    if (follower === undefined) throw new Error('expected a running follower');
    const others = cluster.members.filter((m) => m !== follower).map((m) => m.endpoint);

    follower.pause();
    try {
      expect(follower.paused).toBe(true);
      expect(follower.running).toBe(true);
      const quorum = cluster.client({ endpoints: others });
      for (let i = 0; i < 10; i++) await putWithRetry(quorum, `${prefix}paused${i}`, String(i));
      const toPaused = cluster.client({ endpoints: [follower.endpoint] });
      await expect(
        toPaused
          .get(`${prefix}paused9`)
          .options({ deadline: Date.now() + 500 })
          .string(),
      ).rejects.toThrow();
    } finally {
      follower.resume();
    }
    expect(follower.paused).toBe(false);
    await cluster.waitHealthy();
    const direct = cluster.client({ endpoints: [follower.endpoint] }); // fresh: no open breaker
    expect(await waitFor(() => direct.get(`${prefix}paused9`).string(), { timeoutMs: 15_000 })).toBe('9');
  });

  it('stallApply(): a put sent to a paused follower whose reply and cancel are blackholed applies after a newer write, once the follower resumes', async () => {
    const { cluster } = etcd;
    await cluster.waitHealthy();
    const leader = await cluster.leader();
    const follower = cluster.members.find((m) => m !== leader && m.running);
    if (follower === undefined) throw new Error('expected a running follower');
    const proxy = await FaultProxy.start(follower.endpoint);
    const key = `${prefix}stalled`;
    try {
      const viaProxy = cluster.client({ endpoints: [proxy.endpoint] });
      await putWithRetry(viaProxy, `${prefix}warm`, 'x'); // the connection exists before the stall
      const stall = await stallApply(follower, [proxy], 0);
      // etcd times a request from when it reads it: 5 s leave the resumed follower time to rejoin.
      const stale = viaProxy
        .put(key)
        .value('old')
        .options({ deadline: Date.now() + 5_000 })
        .exec();
      const settled = stale.then(
        () => 'answered',
        () => 'no answer',
      );
      await sleep(200); // the request is in the stopped process's socket buffer
      stall.cut(); // the client's cancel never reaches it, its reply never comes back
      const healthy = cluster.client({
        endpoints: cluster.members.filter((m) => m !== follower).map((m) => m.endpoint),
      });
      await putWithRetry(healthy, key, 'new');
      expect(await healthy.get(key).string()).toBe('new');
      await stall.release(5_000);
      // The stopped member read the old request and forwarded it to the leader: applied last.
      expect(
        await waitFor(async () => (await healthy.get(key).string()) === 'old', { timeoutMs: 10_000 }),
      ).toBe(true);
      expect(await settled).toBe('no answer');
    } finally {
      if (follower.paused) follower.resume();
      await proxy.close();
    }
  });

  it('replaceMember(): a member restarted empty on its ports rejoins under a new id and copies the data', async () => {
    const { cluster } = etcd;
    await cluster.waitHealthy();
    const client = cluster.client();
    await putWithRetry(client, `${prefix}before-replace`, 'kept');
    const victim = cluster.members[2];
    if (victim === undefined) throw new Error('expected 3 members');
    const idsBefore = (await client.cluster.memberList({})).members.map((m) => m.ID);
    await cluster.replaceMember(victim);
    await cluster.waitHealthy();
    expect(victim.running).toBe(true);
    const members = (await client.cluster.memberList({})).members;
    expect(members).toHaveLength(3);
    const replaced = members.find((m) => m.peerURLs.includes(victim.peerUrl));
    expect(idsBefore).not.toContain(replaced?.ID);
    const direct = cluster.client({ endpoints: [victim.endpoint] });
    expect(await waitFor(() => direct.get(`${prefix}before-replace`).string(), { timeoutMs: 15_000 })).toBe(
      'kept',
    );
  });

  it('restartEmpty(): the whole cluster comes back on the same ports with no keys and revisions starting over', async () => {
    const { cluster } = etcd;
    await cluster.waitHealthy();
    const client = cluster.client();
    for (let i = 0; i < 20; i++) await putWithRetry(client, `${prefix}old${i}`, String(i));
    const before = await cluster.currentRevision();
    const endpoints = [...cluster.endpoints];
    await cluster.restartEmpty();
    await cluster.waitHealthy();
    expect(cluster.endpoints).toEqual(endpoints);
    expect(cluster.members.every((m) => m.running)).toBe(true);
    const after = await cluster.currentRevision();
    expect(after).toBeLessThan(before);
    const fresh = cluster.client();
    expect(await fresh.getAll().prefix(prefix).count()).toBe(0);
    await putWithRetry(fresh, `${prefix}new`, 'v');
    expect(await fresh.get(`${prefix}new`).string()).toBe('v');
  });

  it('stop() kills every member (paused ones too) and removes the data dirs', async () => {
    const { cluster } = etcd;
    const members = cluster.members.map((m) => ({ pid: m.pid, dataDir: m.dataDir }));
    cluster.members[1]?.pause(); // SIGTERM would stay pending on a stopped process
    await cluster.stop();
    for (const { pid, dataDir } of members) {
      expect(pid).toBeTypeOf('number');
      expect(() => process.kill(pid as number, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
      expect(existsSync(dataDir)).toBe(false);
    }
    expect(cluster.members.every((m) => !m.running)).toBe(true);
  });
});
