/**
 * Issue 24: `etcd-coord once` stopped by SIGTERM mid-run (a deploy, a host shutdown) marks the slot
 * *interrupted*, not failed: the next host runs it instead of exiting 81 for ever.
 */
import { describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { runCli, startCli, useCli } from './cli-helper.js';

describe('etcd-coord once interrupted by its host', { timeout: 60_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-once-int');
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];

  it('SIGTERM during the run: exit 143, record "interrupted", and the next host runs the slot', async () => {
    const first = startCli([
      ...g(),
      'once',
      'sync',
      '--slot',
      's1',
      '--',
      'sh',
      '-c',
      'echo started; sleep 30',
    ]);
    await first.waitForLine(/^started$/, 15_000);
    first.kill('SIGTERM');
    const exit = await first.exited;
    expect(exit.code, first.stderr()).toBe(143);
    expect(first.stderr()).toMatch(/interrupted by SIGTERM: another host may run it/);
    const raw = await etcd.admin.get(`${etcd.prefix}once/sync/s1/record`).string();
    expect(JSON.parse(raw ?? '{}')).toMatchObject({ state: 'interrupted', outcome: 'interrupted' });

    const next = await runCli([...g(), '--json', 'once', 'sync', '--slot', 's1', '--', 'echo', 'ran']);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout[0]).toBe('ran');
    const out = JSON.parse(next.stdout[1] ?? '{}') as {
      status: string;
      record: { attempts: { outcome: string }[] };
    };
    expect(out.status).toBe('ran');
    expect(out.record.attempts.map((a) => a.outcome)).toEqual(['interrupted', 'ok']);
  });
});
