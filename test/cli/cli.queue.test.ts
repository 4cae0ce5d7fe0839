import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { runCli, shq, useCli } from './cli-helper.js';

describe('etcd-coord queue', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-queue');
  let dir: string;
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-queue-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('push / size / pop round-trip the payload bytes', async () => {
    const pushed = await runCli([...g(), 'queue', 'push', 'mail', '{"to":"a@example.com"}']);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout[0]).toMatch(/^\d+$/);
    expect((await runCli([...g(), 'queue', 'size', 'mail'])).stdout).toEqual(['1']);
    const popped = await runCli([...g(), '--json', 'queue', 'pop', 'mail']);
    expect(JSON.parse(popped.stdout[0] ?? '')).toMatchObject({
      id: pushed.stdout[0],
      attempt: 1,
      payload: '{"to":"a@example.com"}',
    });
    expect((await runCli([...g(), 'queue', 'size', 'mail'])).stdout).toEqual(['0']);
    const empty = await runCli([...g(), 'queue', 'pop', 'mail', '--timeout', '300ms']);
    expect(empty.code).toBe(75);
  });

  it('work acks on exit 0 and nacks otherwise (payload on stdin)', async () => {
    const log = join(dir, 'work.log');
    for (const payload of ['ok-1', 'fail', 'ok-2'])
      expect((await runCli([...g(), 'queue', 'push', 'jobs', payload])).code).toBe(0);
    const handler = `p=$(cat); echo "$p $ETCD_COORD_JOB_ATTEMPT" >> ${shq(log)}; case "$p" in ok-*) exit 0;; *) exit 9;; esac`;
    // 3 jobs + 1 redelivery of the failing one; with --max-attempts 2 it then goes to the dead letters.
    const r = await runCli([
      ...g(),
      '--json',
      'queue',
      'work',
      'jobs',
      '--max-jobs',
      '4',
      '--max-attempts',
      '2',
      '--',
      'sh',
      '-c',
      handler,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const outcomes = r.stdout.map((l) => JSON.parse(l) as { outcome: string; exitCode: number });
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['ack', 'ack', 'nack', 'nack']);
    const lines = (await readFile(log, 'utf8')).trim().split('\n').sort();
    expect(lines).toEqual(['fail 1', 'fail 2', 'ok-1 1', 'ok-2 1']);
    expect((await runCli([...g(), 'queue', 'size', 'jobs'])).stdout).toEqual(['0']);
    expect((await runCli([...g(), 'queue', 'size', 'jobs.dead'])).stdout).toEqual(['1']);
  });
});
