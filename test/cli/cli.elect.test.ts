import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { runCli, shq, startCli, useCli } from './cli-helper.js';

describe('etcd-coord elect', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-elect');
  let dir: string;
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-elect-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the child while leader; --try exits 80 when another leads; --observe follows the leader', async () => {
    const log = join(dir, 'leader.log');
    const observer = startCli([...g(), '--json', 'elect', 'sched', '--observe']);
    await observer.waitForLine(/"leader":null/, 30_000);
    const leader = startCli([
      ...g(),
      'elect',
      'sched',
      '--value',
      'host-a',
      '--',
      'sh',
      '-c',
      `echo "lead $ETCD_LOCK_KEY $ETCD_COORD_FENCING_TOKEN" >> ${shq(log)}; echo leading; while :; do sleep 0.1; done`,
    ]);
    await leader.waitForLine(/^leading$/, 30_000);
    await observer.waitForLine(/"leader":"host-a"/, 30_000);
    const [line = ''] = (await readFile(log, 'utf8')).trim().split('\n');
    expect(line).toMatch(new RegExp(`^lead ${etcd.prefix}sched/[0-9a-f]+ \\d+$`));

    const tried = await runCli([
      ...g(),
      'elect',
      'sched',
      '--try',
      '--value',
      'host-b',
      '--',
      'echo',
      'never',
    ]);
    expect(tried.code, tried.stderr).toBe(80);
    expect(tried.stderr).toMatch(/not elected: "host-a" leads/);
    expect(tried.stdout).toEqual([]);

    leader.kill('SIGTERM');
    expect((await leader.exited).code).toBe(143);
    await observer.waitForLine(
      (l) => l === '{"leader":null}' && observer.output.some((o) => o.includes('host-a')),
      30_000,
    );
    const next = await runCli([
      ...g(),
      'elect',
      'sched',
      '--try',
      '--value',
      'host-b',
      '--',
      'sh',
      '-c',
      'exit 6',
    ]);
    expect(next.code, next.stderr).toBe(6);
    await observer.waitForLine(/"leader":"host-b"/, 30_000);
    observer.kill('SIGINT');
    expect((await observer.exited).code).toBe(0);
  });

  it('--timeout exits 75 when not elected in time', async () => {
    const leader = startCli([
      ...g(),
      'elect',
      'busy',
      '--',
      'sh',
      '-c',
      'echo leading; while :; do sleep 0.1; done',
    ]);
    await leader.waitForLine(/^leading$/, 30_000);
    const r = await runCli([...g(), 'elect', 'busy', '--timeout', '500ms', '--', 'echo', 'never']);
    expect(r.code, r.stderr).toBe(75);
    leader.kill('SIGTERM');
    await leader.exited;
  });
});
