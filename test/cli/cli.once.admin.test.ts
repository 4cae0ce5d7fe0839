/**
 * Issue 24: `once` records are kept for ever (`--every 1h` leaves ~8,760 keys a year). `--keep` deletes
 * old finished records after a run; `once status|reset <job>` inspects and clears slots.
 */
import { describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { runCli, startCli, useCli } from './cli-helper.js';

const DAY = 86_400_000;

/** A finished record as once() writes it, ended `daysAgo` days ago. */
function record(job: string, slot: string, daysAgo: number, state = 'done'): string {
  const end = new Date(Date.now() - daysAgo * DAY).toISOString();
  const attempt = { host: 'h', pid: 1, start: end, end, outcome: 'ok', fencingToken: '5', lease: 'abc' };
  return JSON.stringify({
    job,
    slot,
    state,
    host: 'h',
    pid: 1,
    start: end,
    end,
    outcome: 'ok',
    attempts: [attempt],
  });
}

describe('etcd-coord once status, reset and --keep', { timeout: 90_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-once-admin');
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];

  it('status lists the slots of a job (not of a nested job); --slot shows one record; a missing one exits 1', async () => {
    expect((await runCli([...g(), 'once', 'st', '--slot', 'a', '--', 'true'])).code).toBe(0);
    expect((await runCli([...g(), 'once', 'st', '--slot', 'b', '--', 'false'])).code).toBe(1);
    expect((await runCli([...g(), 'once', 'st/sub', '--slot', 'c', '--', 'true'])).code).toBe(0);
    const all = await runCli([...g(), 'once', 'status', 'st']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toHaveLength(2);
    expect(all.stdout[0]).toMatch(/^a {2}done {2}ok {2}\S+:\d+ {2}\d{4}-/);
    expect(all.stdout[1]).toMatch(/^b {2}done {2}error /);
    const one = await runCli([...g(), 'once', 'status', 'st', '--slot', 'a', '--json']);
    expect(JSON.parse(one.stdout[0] ?? '{}')).toMatchObject({
      slot: 'a',
      record: { state: 'done', outcome: 'ok' },
    });
    const none = await runCli([...g(), 'once', 'status', 'st', '--slot', 'zz']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/slot zz has no record/);
  });

  it('reset clears a finished slot (the next run runs it), and refuses while it runs', async () => {
    expect((await runCli([...g(), 'once', 'rs', '--slot', 'b', '--', 'false'])).code).toBe(1);
    expect((await runCli([...g(), 'once', 'rs', '--slot', 'b', '--', 'true'])).code).toBe(81);
    const reset = await runCli([...g(), 'once', 'reset', 'rs', '--slot', 'b']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toEqual(['reset "rs" slot b']);
    expect((await runCli([...g(), 'once', 'rs', '--slot', 'b', '--', 'true'])).code).toBe(0);

    const running = startCli([
      ...g(),
      'once',
      'rs',
      '--slot',
      'r',
      '--',
      'sh',
      '-c',
      'echo started; sleep 30',
    ]);
    await running.waitForLine(/^started$/, 15_000);
    const refused = await runCli([...g(), 'once', 'reset', 'rs', '--slot', 'r']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/is running on .* not reset/);
    running.kill('SIGTERM');
    await running.exited;
    const usage = await runCli([...g(), 'once', 'reset', 'rs']);
    expect(usage.code).toBe(64);
  });

  it('--keep 30d: after a run, finished records older than 30 days go; open, recent and nested ones stay', async () => {
    const put = (slot: string, value: string) =>
      etcd.admin.put(`${etcd.prefix}once/kp/${slot}/record`).value(value);
    await put('old', record('kp', 'old', 40));
    await put('old-failed', record('kp', 'old-failed', 45, 'failed'));
    await put('recent', record('kp', 'recent', 10));
    await put('old-interrupted', record('kp', 'old-interrupted', 40, 'interrupted'));
    await etcd.admin.put(`${etcd.prefix}once/kp/sub/old/record`).value(record('kp/sub', 'old', 40));
    const r = await runCli([...g(), 'once', 'kp', '--slot', 'now', '--keep', '30d', '--', 'true']);
    expect(r.code, r.stderr).toBe(0);
    const keys = (await etcd.admin.getAll().prefix(`${etcd.prefix}once/`).keys()).map((k) =>
      k.slice(etcd.prefix.length),
    );
    expect(keys.filter((k) => k.startsWith('once/kp/')).sort()).toEqual([
      'once/kp/now/record',
      'once/kp/old-interrupted/record',
      'once/kp/recent/record',
      'once/kp/sub/old/record',
    ]);
  });
});
