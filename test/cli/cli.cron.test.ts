/**
 * `etcd-coord cron` (issue 19): two daemons, one slot each time; a daemon killed -9 mid-slot has its slot
 * re-run by the other (the record lists both attempts); `cron history`; usage errors.
 */
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedEtcd, waitFor } from '../support/shared.js';
import { runCli, shq, startCli, useCli } from './cli-helper.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('etcd-coord cron', { timeout: 90_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-cron');
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-cron-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('usage errors exit 64 naming the option, nothing written', async () => {
    const bad = await runCli([...g(), 'cron', '* * * * * *', 'j', '--overlap', 'never', '--', 'true']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/--overlap/);
    const expr = await runCli([...g(), 'cron', 'not a cron', 'j', '--', 'true']);
    expect(expr.code).toBe(64);
    expect(expr.stderr).toMatch(/expression/);
    const none = await runCli([...g(), 'cron', '* * * * * *', 'j']);
    expect(none.code).toBe(64);
    expect(await etcd.admin.getAll().prefix(`${etcd.prefix}once/j/`).keys()).toEqual([]);
  });

  it('a daemon killed -9 mid-slot: the other daemon re-runs that slot, and history shows both attempts', async () => {
    const script = `echo $$ > ${shq(dir)}/pid.$ETCD_COORD_CRON_ATTEMPT.$PPID; echo "$ETCD_COORD_CRON_SLOT $ETCD_COORD_CRON_ATTEMPT" >> ${shq(dir)}/runs; sleep 4`;
    const args = (): string[] => [
      ...g(),
      'cron',
      '*/10 * * * * *',
      'killed',
      '--ttl',
      '2',
      '--overlap',
      'wait',
      '--',
      'sh',
      '-c',
      script,
    ];
    const a = startCli(args());
    const b = startCli(args());
    try {
      // Whichever daemon runs the first slot is killed with its whole CLI process (no cleanup at all).
      const first = String(
        await waitFor(async () => (await readdir(dir)).find((f) => f.startsWith('pid.1.')), {
          timeoutMs: 30_000,
          message: 'a first attempt',
        }),
      );
      const runnerCli = Number(first.split('.')[2]);
      const victim = [a, b].find((c) => c.pid === runnerCli) ?? (alive(a.pid) ? a : b);
      const survivor = victim === a ? b : a;
      const childPid = Number((await readFile(join(dir, first), 'utf8')).trim());
      victim.kill('SIGKILL');
      if (alive(childPid)) process.kill(childPid, 'SIGKILL'); // the orphaned child, by PID
      const rerun = String(
        await waitFor(async () => (await readdir(dir)).find((f) => f.startsWith('pid.2.')), {
          timeoutMs: 30_000,
          message: 'the slot re-run by the other daemon',
        }),
      );
      expect(Number(rerun.split('.')[2])).not.toBe(victim.pid);
      const runs = (await readFile(join(dir, 'runs'), 'utf8')).trim().split('\n');
      const slot = runs[0]!.split(' ')[0]!;
      expect(runs.filter((r) => r.startsWith(slot))).toEqual([`${slot} 1`, `${slot} 2`]);
      await waitFor(
        async () => {
          const h = await runCli([...g(), '--json', 'cron', 'history', 'killed']);
          const rows = h.stdout.map(
            (l) =>
              JSON.parse(l) as {
                slot: string;
                state: string;
                attempts: number;
                record: { attempts: { outcome?: string }[] };
              },
          );
          const row = rows.find((r) => r.slot === slot);
          return row?.state === 'done' && row.record.attempts.map((x) => x.outcome).join() === 'crashed,ok';
        },
        { timeoutMs: 20_000, message: 'history: the slot done, attempts crashed then ok' },
      );
      survivor.kill('SIGTERM');
      expect((await survivor.exited).code, survivor.stderr()).toBe(0);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
