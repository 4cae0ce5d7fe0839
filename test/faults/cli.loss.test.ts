import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../support/proxy.js';
import { uniquePrefix, usePrivateEtcd, waitFor } from '../support/shared.js';
import { shq, startCli, useCli } from '../cli/cli-helper.js';
import type { ChildHandle } from '../support/node-child.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('etcd-coord lock: the holder cut off from etcd', { timeout: 120_000 }, () => {
  useCli();
  const etcd = usePrivateEtcd({ members: 1, useExternal: false });
  let dir: string;
  let proxy: FaultProxy | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-loss-'));
  });
  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * Waits until `n` lock keys exist. A waiting CLI that exits instead (or is still starting on a loaded
   * machine) shows up in the failure with its stderr, not as a bare timeout.
   */
  async function waiters(prefix: string, name: string, n: number, waiting: ChildHandle): Promise<void> {
    const client = etcd.cluster.client();
    const keys = waitFor(async () => (await client.getAll().prefix(`${prefix}${name}/`).keys()).length >= n, {
      timeoutMs: 60_000,
      message: `${n} lock keys`,
    });
    const early = waiting.exited.then((e) => {
      throw new Error(`the waiting CLI exited (${e.code ?? e.signal}) before it queued: ${waiting.stderr()}`);
    });
    early.catch(() => undefined);
    await Promise.race([keys, early]).catch((err: Error) => {
      throw new Error(`${err.message}; waiting CLI stderr: ${waiting.stderr()}`, { cause: err });
    });
  }

  it("the holder's child gets SIGTERM before the other CLI's child starts; the holder exits 79", async () => {
    const prefix = uniquePrefix('cli-loss');
    const log = join(dir, 'order.log');
    proxy = await FaultProxy.start(etcd.cluster.endpoints[0] ?? '');
    const a = startCli([
      '--endpoints',
      proxy.endpoint,
      '--namespace',
      prefix,
      'lock',
      'job',
      '--ttl',
      '4',
      '--',
      'sh',
      '-c',
      `trap 'echo A-term >> ${shq(log)}; exit 0' TERM; echo A-start >> ${shq(log)}; echo started; while :; do sleep 0.1; done`,
    ]);
    await a.waitForLine(/^started$/, 30_000);
    const b = startCli([
      '--endpoints',
      etcd.cluster.endpoints.join(','),
      '--namespace',
      prefix,
      'lock',
      'job',
      '--ttl',
      '4',
      '--',
      'sh',
      '-c',
      `echo B-start >> ${shq(log)}`,
    ]);
    // TTL 4 s, not 2: under the full suite a 2 s lease through the proxy was lost before the blackhole,
    // A exited, B took the lock, and the two keys never existed together.
    await waiters(prefix, 'job', 2, b);
    if (!alive(a.pid)) throw new Error(`the holder exited before the blackhole: ${a.stderr()}`);

    proxy.blackhole();
    const [ea, eb] = await Promise.all([a.exited, b.exited]);
    expect(eb.code, b.stderr()).toBe(0);
    expect(ea.code, a.stderr()).toBe(79);
    expect(a.stderr()).toMatch(/lost/);
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['A-start', 'A-term', 'B-start']);
  });

  it('a child that ignores SIGTERM is SIGKILLed after --kill-after (with its whole process group)', async () => {
    const prefix = uniquePrefix('cli-kill');
    const pidFile = join(dir, 'stubborn.pid');
    proxy = await FaultProxy.start(etcd.cluster.endpoints[0] ?? '');
    const a = startCli([
      '--endpoints',
      proxy.endpoint,
      '--namespace',
      prefix,
      'lock',
      'job',
      '--ttl',
      '3',
      '--kill-after',
      '1s',
      '--',
      'sh',
      '-c',
      `trap '' TERM; sleep 1000 & echo "$$ $!" > ${shq(pidFile)}; echo started; while :; do sleep 0.1; done`,
    ]);
    await a.waitForLine(/^started$/, 30_000);
    const [shell = 0, background = 0] = (await readFile(pidFile, 'utf8')).trim().split(' ').map(Number);
    expect(alive(shell) && alive(background)).toBe(true);

    proxy.blackhole();
    await waitFor(() => /terminating the command/.test(a.stderr()), {
      timeoutMs: 30_000,
      message: 'loss noticed',
    });
    const noticed = Date.now();
    // Ignoring SIGTERM keeps it running until --kill-after has passed.
    expect(alive(shell)).toBe(true);
    const exit = await a.exited;
    expect(exit.code, a.stderr()).toBe(79);
    expect(Date.now() - noticed).toBeGreaterThanOrEqual(900);
    expect(alive(shell)).toBe(false);
    expect(alive(background)).toBe(false); // no orphans: the whole group was killed
  });
});
