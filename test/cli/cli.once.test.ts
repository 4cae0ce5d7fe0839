import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { runCli, shq, startCli, useCli } from './cli-helper.js';

describe('etcd-coord once', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-once');
  let dir: string;
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-once-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('6 concurrent invocations of one slot: one runs, the others exit 80 (already done)', async () => {
    const log = join(dir, 'runs.log');
    const child = `echo "run $ETCD_COORD_ONCE_SLOT $ETCD_LOCK_REV" >> ${shq(log)}; sleep 0.5`;
    const runs = await Promise.all(
      Array.from({ length: 6 }, () =>
        runCli([...g(), 'once', 'report', '--slot', '2026-11-21', '--', 'sh', '-c', child]),
      ),
    );
    const codes = runs.map((r) => r.code).sort((a, b) => (a ?? 0) - (b ?? 0));
    expect(codes, runs.map((r) => r.stderr).join('\n')).toEqual([0, 80, 80, 80, 80, 80]);
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^run 2026-11-21 \d+$/);
    for (const r of runs.filter((x) => x.code === 80)) expect(r.stderr).toMatch(/already done/);

    // A later run of the same slot reports the record.
    const later = await runCli([...g(), '--json', 'once', 'report', '--slot', '2026-11-21', '--', 'true']);
    expect(later.code).toBe(80);
    const out = JSON.parse(later.stdout[0] ?? '{}') as {
      status: string;
      record: { state: string; outcome: string };
    };
    expect(out.status).toBe('skipped');
    expect(out.record).toMatchObject({ state: 'done', outcome: 'ok' });
  });

  it("propagates the child's failure, and other hosts then exit 81 for that slot", async () => {
    const failed = await runCli([...g(), 'once', 'flaky', '--slot', 's1', '--', 'sh', '-c', 'exit 3']);
    expect(failed.code).toBe(3);
    const next = await runCli([...g(), 'once', 'flaky', '--slot', 's1', '--', 'true']);
    expect(next.code).toBe(81);
    expect(next.stderr).toMatch(/failed/);
  });

  it('--every derives the same slot on every host', async () => {
    const first = await runCli([...g(), '--json', 'once', 'hourly', '--every', '1h', '--', 'true']);
    expect(first.code, first.stderr).toBe(0);
    const slot = (JSON.parse(first.stdout[0] ?? '{}') as { slot: string }).slot;
    expect(new Date(slot).getTime() % 3_600_000).toBe(0);
    const second = await runCli([...g(), 'once', 'hourly', '--every', '1h', '--', 'true']);
    // Unless the test straddled the half hour, the same slot: already done.
    if (Math.abs(Date.now() - new Date(slot).getTime()) < 1_700_000) expect(second.code).toBe(80);
  });

  it('a SIGTERM to the CLI is forwarded to the running job: its status is the exit code', async () => {
    const cli = startCli([
      ...g(),
      'once',
      'long',
      '--slot',
      's1',
      '--',
      'sh',
      '-c',
      'echo started; while :; do sleep 0.1; done',
    ]);
    await cli.waitForLine(/^started$/, 60_000);
    cli.kill('SIGTERM');
    expect((await cli.exited).code, cli.stderr()).toBe(143);
    // The interrupted run is not a failed one (issue 24): the next host runs the slot.
    expect((await runCli([...g(), 'once', 'long', '--slot', 's1', '--', 'true'])).code).toBe(0);
  });

  it('rejects --slot together with --every (usage, 64)', async () => {
    const r = await runCli([...g(), 'once', 'x', '--slot', 'a', '--every', '1h', '--', 'true']);
    expect(r.code).toBe(64);
    expect(r.stderr).toMatch(/exactly one of --slot and --every/);
  });
});
