import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { useSharedEtcd, uniquePrefix } from '../support/shared.js';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A newcomer arriving after the holder's lease was revoked, with nobody queued, is held back by the held
 * marker (src/lock/held-marker.ts) for the lock-delay, so the old child (SIGTERM ignored) is killed first.
 * DESIGN (CLI): "A child is dead (its whole process group) before any other holder can be granted, whatever
 * it does with SIGTERM: escalation is scheduled from the lease, and --lock-delay covers the rest."
 * Scenario: holder X's lease is revoked (operator), X's child ignores SIGTERM; a newcomer Y arrives right
 * after the revoke with nobody queued.
 */
describe('CLI lock: a newcomer after a revoke vs the old child that ignores SIGTERM', () => {
  const etcd = useSharedEtcd('clinew');
  const procs: ChildProcess[] = [];
  afterAll(() => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  });
  const cli = (ns: string, args: string[]) => {
    const p = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'lock',
        '--endpoints',
        etcd.endpoints.join(','),
        '--namespace',
        ns,
        ...args,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: false,
      },
    );
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    procs.push(p);
    return { p, err: () => err };
  };

  it("the new holder's child never runs while the revoked holder's child is still alive", async () => {
    const ns = uniquePrefix('clinew');
    const dir = mkdtempSync(join(tmpdir(), 'cli-newcomer-'));
    const f1 = join(dir, 'x.log');
    const f2 = join(dir, 'y.log');
    // X: child ignores SIGTERM, appends a nanosecond timestamp every 50 ms
    const x = cli(ns, [
      'job',
      '--',
      'sh',
      '-c',
      `trap '' TERM; while :; do date +%s%N >> ${f1}; sleep 0.05; done`,
    ]);
    for (let i = 0; i < 200 && !existsSync(f1); i++) await sleep(50);
    expect(existsSync(f1), x.err()).toBe(true);
    const keys = await etcd.admin.getAll().prefix(`${ns}job/`).exec();
    const lease = keys.kvs[0]!.lease;
    await etcd.admin.leaseClient.leaseRevoke({ ID: lease });
    // Y arrives right after, nobody queued
    const y = cli(ns, ['job', '--', 'sh', '-c', `date +%s%N >> ${f2}; sleep 0.3`]);
    await new Promise((r) => y.p.once('exit', r));
    await new Promise((r) => (x.p.exitCode !== null ? r(null) : x.p.once('exit', r)));
    await sleep(300);
    const yStart = BigInt(readFileSync(f2, 'utf8').trim().split('\n')[0]!);
    const xTicks = readFileSync(f1, 'utf8')
      .trim()
      .split('\n')
      .map((l) => BigInt(l));
    const xLast = xTicks[xTicks.length - 1]!;
    const overlapMs = Number(xLast - yStart) / 1e6;
    expect(overlapMs, 'the old child was still writing after the new child started').toBeLessThanOrEqual(0);
  }, 60_000);
  it('control: with the newcomer queued BEFORE the revoke, lock-delay keeps the children apart', async () => {
    const ns = uniquePrefix('clinew');
    const dir = mkdtempSync(join(tmpdir(), 'cli-newcomer-'));
    const f1 = join(dir, 'x.log');
    const f2 = join(dir, 'y.log');
    // X: child ignores SIGTERM, appends a nanosecond timestamp every 50 ms
    const x = cli(ns, [
      'job',
      '--',
      'sh',
      '-c',
      `trap '' TERM; while :; do date +%s%N >> ${f1}; sleep 0.05; done`,
    ]);
    for (let i = 0; i < 200 && !existsSync(f1); i++) await sleep(50);
    expect(existsSync(f1), x.err()).toBe(true);
    const keys = await etcd.admin.getAll().prefix(`${ns}job/`).exec();
    const lease = keys.kvs[0]!.lease;
    const y = cli(ns, ['job', '--', 'sh', '-c', `date +%s%N >> ${f2}; sleep 0.3`]);
    for (let i = 0; i < 200; i++) {
      if ((await etcd.admin.getAll().prefix(`${ns}job/`).keys()).length >= 2) break;
      await sleep(50);
    }
    await etcd.admin.leaseClient.leaseRevoke({ ID: lease });
    await new Promise((r) => y.p.once('exit', r));
    await new Promise((r) => (x.p.exitCode !== null ? r(null) : x.p.once('exit', r)));
    await sleep(300);
    const yStart = BigInt(readFileSync(f2, 'utf8').trim().split('\n')[0]!);
    const xTicks = readFileSync(f1, 'utf8')
      .trim()
      .split('\n')
      .map((l) => BigInt(l));
    const xLast = xTicks[xTicks.length - 1]!;
    const overlapMs = Number(xLast - yStart) / 1e6;
    expect(overlapMs, 'the old child was still writing after the new child started').toBeLessThanOrEqual(0);
  }, 60_000);
});
