/**
 * The test harness itself, on a private single node: the etcd launcher, compaction, process
 * cleanup and every mode of the TCP fault proxy.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3, GRPCDeadlineExceededError, GRPCOutOfRangeError } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { EtcdUnavailableError, dockerAvailable, startEtcd } from '../support/etcd.js';
import { FaultProxy } from '../support/proxy.js';
import {
  sharedEndpoints,
  spawnNode,
  uniquePrefix,
  usePrivateEtcd,
  useSharedEtcd,
  waitFor,
} from '../support/shared.js';

/** Asserts that no process has this PID any more (`kill(pid, 0)` fails with ESRCH). */
function expectGone(pid: number | undefined): void {
  expect(pid).toBeTypeOf('number');
  expect(() => process.kill(pid as number, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
}

describe('etcd launcher (single node)', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const prefix = uniquePrefix('harness');

  it('starts a node that serves put and get through client()', async () => {
    const { cluster } = etcd;
    expect(cluster.endpoints).toHaveLength(1);
    if (cluster.kind === 'binary') {
      expect(cluster.members.map((m) => m.name)).toEqual(['m0']);
      expect(cluster.members[0]?.running).toBe(true);
    }
    const client = cluster.client();
    await client.put(`${prefix}hello`).value('world');
    expect(await client.get(`${prefix}hello`).string()).toBe('world');
  });

  it('compact() removes old revisions: a get at a compacted revision fails', async () => {
    const { cluster } = etcd;
    const client = cluster.client();
    const first = await client.put(`${prefix}c`).value('v1').exec();
    await client.put(`${prefix}c`).value('v2');
    const compacted = await cluster.compact();
    expect(compacted).toBe(await cluster.currentRevision());
    const stale = client.get(`${prefix}c`).revision(first.header.revision).string();
    await expect(stale).rejects.toBeInstanceOf(GRPCOutOfRangeError);
    await expect(stale).rejects.toThrow(/compacted/);
    // Compacting again at the same revision is not an error.
    await expect(cluster.compact(compacted)).resolves.toBe(compacted);
  });

  it('restart({ wipeData: true }) brings the node back empty on the same endpoint', async () => {
    const { cluster } = etcd;
    const member = cluster.members[0];
    if (member === undefined) return; // container kind: no process to restart
    await cluster.client().put(`${prefix}wiped`).value('x');
    const oldPid = member.pid;
    await member.restart({ wipeData: true });
    expect(member.pid).not.toBe(oldPid);
    const fresh = cluster.client(); // the old client's channel saw the node die
    expect(
      await waitFor(() =>
        fresh
          .get(`${prefix}wiped`)
          .exists()
          .then((e) => !e),
      ),
    ).toBe(true);
  });
});

describe('FaultProxy', () => {
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  const prefix = uniquePrefix('proxy');
  let proxy: FaultProxy;
  let client: Etcd3;

  beforeAll(async () => {
    proxy = await FaultProxy.start(etcd.cluster.endpoints[0] as string);
    client = etcd.cluster.client({ endpoints: [proxy.endpoint] });
  });
  afterAll(async () => {
    await proxy.close();
    await proxy.close(); // idempotent
  });

  it('pass: forwards requests both ways', async () => {
    await client.put(`${prefix}p`).value('through');
    expect(await client.get(`${prefix}p`).string()).toBe('through');
    expect(proxy.mode).toBe('pass');
    expect(proxy.connections).toBeGreaterThan(0);
    expect(proxy.bytesForwarded).toBeGreaterThan(0);
  });

  it('blackhole: a request times out while the TCP connection stays open; pass() recovers', async () => {
    // Connected first: on a loaded machine a 500 ms deadline can otherwise pass before the client dials.
    await waitFor(() => client.get(`${prefix}p`).string());
    proxy.blackhole();
    try {
      const forwarded = proxy.bytesForwarded;
      const started = Date.now();
      await expect(
        client
          .get(`${prefix}p`)
          .options({ deadline: Date.now() + 500 })
          .string(),
      ).rejects.toBeInstanceOf(GRPCDeadlineExceededError);
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(proxy.connections).toBeGreaterThan(0); // silently dropped, not refused or closed
      expect(proxy.bytesForwarded).toBe(forwarded);
    } finally {
      // Whatever failed above, the next tests get a working proxy.
      proxy.pass();
    }
    // The old client's circuit breaker may hold the host for up to 5 s after the timeouts.
    expect(await waitFor(() => client.get(`${prefix}p`).string(), { timeoutMs: 15_000 })).toBe('through');
  });

  it('dropReplies: a put applies in etcd while its client sees a timeout; pass() recovers', async () => {
    await waitFor(() => client.get(`${prefix}p`).string()); // connection established first
    proxy.dropReplies();
    try {
      await expect(
        client
          .put(`${prefix}dropped`)
          .value('applied')
          .options({ deadline: Date.now() + 500 }),
      ).rejects.toBeInstanceOf(GRPCDeadlineExceededError);
      expect(proxy.mode).toBe('drop-replies');
    } finally {
      proxy.pass();
    }
    // Read around the proxy: the request reached etcd and was applied.
    expect(await etcd.cluster.client().get(`${prefix}dropped`).string()).toBe('applied');
    expect(await waitFor(() => client.get(`${prefix}dropped`).string(), { timeoutMs: 15_000 })).toBe(
      'applied',
    );
  });

  it('reset: in-flight streams error and new requests succeed', async () => {
    const watcher = await client.watch().key(`${prefix}w`).create();
    try {
      const disconnected = once(watcher, 'disconnected');
      proxy.reset();
      await disconnected;
      expect(await waitFor(() => client.get(`${prefix}p`).string(), { timeoutMs: 15_000 })).toBe('through');
    } finally {
      await watcher.cancel();
    }
  });

  it('delay(200) adds at least 200 ms to a round trip', async () => {
    await waitFor(() => client.get(`${prefix}p`).string()); // connection established first
    proxy.delay(200);
    try {
      const started = Date.now();
      expect(await client.get(`${prefix}p`).string()).toBe('through');
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    } finally {
      proxy.pass();
    }
  });

  it('retarget: new connections go to the new target', async () => {
    const other = await FaultProxy.start(etcd.cluster.endpoints[0] as string);
    try {
      proxy.retarget(other.endpoint);
      proxy.reset();
      expect(await waitFor(() => client.get(`${prefix}p`).string(), { timeoutMs: 15_000 })).toBe('through');
      expect(other.bytesForwarded).toBeGreaterThan(0);
    } finally {
      proxy.retarget(etcd.cluster.endpoints[0] as string);
      await other.close();
    }
  });
});

describe('shared etcd helpers', () => {
  let prefix = '';

  describe('a suite using useSharedEtcd', () => {
    const etcd = useSharedEtcd('harness');

    it('gets the shared endpoints, a unique prefix and a working admin client', async () => {
      prefix = etcd.prefix;
      expect(etcd.endpoints).toEqual(sharedEndpoints());
      expect(etcd.prefix).toMatch(/^t-harness-[0-9a-f]{8}\/$/);
      await etcd.admin.put(`${etcd.prefix}a`).value('1');
      expect(await etcd.admin.get(`${etcd.prefix}a`).string()).toBe('1');
    });
  });

  afterAll(async () => {
    // Runs after the inner suite's afterAll: its prefix, and only its prefix, is gone.
    const client = new Etcd3({ hosts: sharedEndpoints() });
    try {
      expect(prefix).not.toBe('');
      expect(await client.getAll().prefix(prefix).count()).toBe(0);
    } finally {
      client.close();
    }
  });
});

describe('process hygiene', () => {
  it('stop() leaves no process and no data dir behind, and is idempotent', async () => {
    const cluster = await startEtcd({ members: 1, useExternal: false });
    const members = cluster.members.map((m) => ({ pid: m.pid, dataDir: m.dataDir }));
    await cluster.client().put('hygiene').value('x');
    await cluster.stop();
    await cluster.stop();
    for (const { pid, dataDir } of members) {
      expectGone(pid);
      expect(existsSync(dataDir)).toBe(false);
    }
    expect(() => cluster.client()).toThrow(/stopped/);
  });

  it('without ETCD_ENDPOINTS, a binary or Docker, fails with one message naming every way out', async () => {
    if (await dockerAvailable()) return; // Docker would (rightly) be used instead
    vi.stubEnv('ETCD_ENDPOINTS', undefined);
    vi.stubEnv('ETCD_BIN', undefined);
    vi.stubEnv('PATH', '');
    try {
      const attempt = startEtcd();
      await expect(attempt).rejects.toBeInstanceOf(EtcdUnavailableError);
      await expect(attempt).rejects.toThrow(
        /ETCD_ENDPOINTS[\s\S]*apt-get install[\s\S]*brew install etcd[\s\S]*ETCD_BIN[\s\S]*Docker/,
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('spawnNode: runs a TS worker whose PID takes SIGSTOP/SIGCONT/SIGTERM itself', async () => {
    const worker = spawnNode('test/support/fixtures/ticker.ts', ['a', 'b'], { env: { TICKER_LABEL: 'L' } });
    try {
      // The worker reports its own PID: proof that signals reach the script, not a wrapper.
      expect(await worker.waitForLine(/^ready/)).toBe(`ready ${worker.pid} a b L`);
      await worker.waitForLine(/^tick 2$/);
      worker.pause();
      await sleep(100); // lines already in the pipe may still arrive
      const frozen = worker.output.length;
      await sleep(300);
      expect(worker.output.length).toBe(frozen);
      worker.resume();
      await waitFor(() => worker.output.length > frozen);
      const exit = await worker.stop();
      expect(exit).toEqual({ code: 0, signal: null });
      expect(worker.output.at(-1)).toBe('bye');
      const all: string[] = [];
      for await (const line of worker.lines) all.push(line);
      expect(all).toEqual(worker.output);
      expectGone(worker.pid);
    } finally {
      await worker.stop();
    }
  });
});
