/**
 * Issue 24 (A) through the CLI: `once j --slot x/s/1` and `once j/x --slot s/1` used to mean one record.
 * Both run now, each with its own record; `once status|reset` show and take slots decoded; a job ending
 * with "/" is a usage error (64) with nothing written.
 */
import { describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { runCli, useCli } from './cli-helper.js';

describe('etcd-coord once: slots with "/" and "%"', { timeout: 90_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-once-slots');
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  const records = async () =>
    (await etcd.admin.getAll().prefix(`${etcd.prefix}once/`).keys())
      .map((k) => k.slice(etcd.prefix.length))
      .filter((k) => k.endsWith('/record'))
      .sort();

  it('"once j --slot x/s/1" and "once j/x --slot s/1" both run, each with its own record', async () => {
    const a = await runCli([
      ...g(),
      'once',
      'j',
      '--slot',
      'x/s/1',
      '--',
      'sh',
      '-c',
      'echo "$ETCD_COORD_ONCE_SLOT"',
    ]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toEqual(['x/s/1']);
    const b = await runCli([...g(), 'once', 'j/x', '--slot', 's/1', '--', 'true']);
    expect(b.code, b.stderr).toBe(0);
    expect(await records()).toEqual(['once/j/x%2Fs%2F1/record', 'once/j/x/s%2F1/record']);
    // Each is done: running either again is "already done" (80), not a run.
    expect((await runCli([...g(), 'once', 'j', '--slot', 'x/s/1', '--', 'true'])).code).toBe(80);
    expect((await runCli([...g(), 'once', 'j/x', '--slot', 's/1', '--', 'true'])).code).toBe(80);
  });

  it('status lists decoded slots, --slot takes a decoded slot; reset clears only that slot', async () => {
    expect((await runCli([...g(), 'once', 'st', '--slot', 'a/b', '--', 'true'])).code).toBe(0);
    expect((await runCli([...g(), 'once', 'st', '--slot', '100%', '--', 'true'])).code).toBe(0);
    expect((await runCli([...g(), 'once', 'st/a', '--slot', 'b', '--', 'true'])).code).toBe(0);
    const all = await runCli([...g(), 'once', 'status', 'st']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout.map((l) => l.split('  ')[0])).toEqual(['100%', 'a/b']);
    const one = await runCli([...g(), 'once', 'status', 'st', '--slot', 'a/b', '--json']);
    expect(one.code, one.stderr).toBe(0);
    expect(JSON.parse(one.stdout[0] ?? '{}')).toMatchObject({
      slot: 'a/b',
      record: { job: 'st', slot: 'a/b' },
    });

    const reset = await runCli([...g(), 'once', 'reset', 'st', '--slot', 'a/b']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toEqual(['reset "st" slot a/b']);
    expect((await records()).filter((k) => k.startsWith('once/st'))).toEqual([
      'once/st/100%25/record',
      'once/st/a/b/record',
    ]);
    expect((await runCli([...g(), 'once', 'st', '--slot', 'a/b', '--', 'true'])).code).toBe(0);
  });

  it('a job ending with "/" is a usage error (64); nothing is written', async () => {
    for (const args of [
      ['once', 'bad/', '--slot', 's', '--', 'true'],
      ['once', 'status', 'bad/'],
      ['once', 'reset', 'bad/', '--slot', 's'],
      ['once', 'status', ''],
      ['once', '', '--slot', 's', '--', 'true'],
    ]) {
      const r = await runCli([...g(), ...args]);
      expect(r.code, r.stderr).toBe(64);
      expect(r.stderr).toMatch(/job/);
    }
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}once/bad`).keys()).toEqual([]);
  });
});
