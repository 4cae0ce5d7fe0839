import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { cliArgv, runCli, runSh, shq, startCli, useCli } from './cli-helper.js';

describe('etcd-coord lock', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-lock');
  let dir: string;
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-lock-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('two CLIs on one name never run their children at once', async () => {
    const log = join(dir, 'excl.log');
    const child = `echo "start $$" >> ${shq(log)}; sleep 0.5; echo "end $$" >> ${shq(log)}`;
    const runs = await Promise.all(
      [0, 1, 2].map(() => runCli([...g(), 'lock', 'excl', '--', 'sh', '-c', child])),
    );
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(6);
    for (let i = 0; i < lines.length; i += 2) {
      const [start, end] = [lines[i] ?? '', lines[i + 1] ?? ''];
      expect(start).toMatch(/^start /);
      expect(end).toBe(start.replace('start', 'end'));
    }
  });

  it('gives the child ETCD_LOCK_KEY, ETCD_LOCK_REV and ETCD_COORD_FENCING_TOKEN, and propagates its exit code', async () => {
    const r = await runCli([
      ...g(),
      'lock',
      'envs',
      '--',
      'sh',
      '-c',
      'echo "KEY=$ETCD_LOCK_KEY REV=$ETCD_LOCK_REV TOKEN=$ETCD_COORD_FENCING_TOKEN"; exit 7',
    ]);
    expect(r.code, r.stderr).toBe(7);
    const m = /^KEY=(\S+) REV=(\d+) TOKEN=(\d+)$/.exec(r.stdout[0] ?? '');
    expect(m, r.stdout.join('\n')).not.toBeNull();
    expect(m?.[1]).toMatch(new RegExp(`^${etcd.prefix}envs/[0-9a-f]+$`));
    expect(m?.[2]).toBe(m?.[3]);
    // The revision is the lock key's create revision: a later holder gets a larger one.
    const again = await runCli([...g(), 'lock', 'envs', '--', 'sh', '-c', 'echo "$ETCD_LOCK_REV"']);
    expect(BigInt(again.stdout[0] ?? '0')).toBeGreaterThan(BigInt(m?.[2] ?? '0'));
  });

  it('--try and --timeout exit 75 while the lock is held; SIGTERM is forwarded and the lock released', async () => {
    const holder = startCli([
      ...g(),
      'lock',
      'held',
      '--',
      'sh',
      '-c',
      'echo held; while :; do sleep 0.1; done',
    ]);
    await holder.waitForLine(/^held$/, 30_000);
    const tried = await runCli([...g(), 'lock', 'held', '--try', '--', 'echo', 'never']);
    expect(tried.code, tried.stderr).toBe(75);
    expect(tried.stdout).not.toContain('never');
    expect(tried.stderr.trim().split('\n')).toHaveLength(1);
    const timed = await runCli([...g(), 'lock', 'held', '--timeout', '500ms', '--', 'echo', 'never']);
    expect(timed.code, timed.stderr).toBe(75);
    expect(timed.stdout).not.toContain('never');

    holder.kill('SIGTERM');
    const exit = await holder.exited;
    expect(exit.code).toBe(143); // the child's status: killed by the forwarded SIGTERM
    const after = await runCli([...g(), 'lock', 'held', '--try', '--', 'echo', 'mine']);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toEqual(['mine']);
  });

  it('the etcd announcement demo, made safe: 5 concurrent read-add-write loops end with the exact count', async () => {
    const file = join(dir, 'count');
    await writeFile(file, '0\n');
    const perLoop = 4;
    const cli = [...cliArgv(), ...g()].map(shq).join(' ');
    const bump = `n=$(cat ${shq(file)}); sleep 0.05; echo $((n + 1)) > ${shq(file)}`;
    const loop = `i=0; while [ $i -lt ${perLoop} ]; do ${cli} lock counter -- sh -c ${shq(bump)} || exit 1; i=$((i + 1)); done`;
    const loops = await Promise.all([0, 1, 2, 3, 4].map(() => runSh(loop)));
    for (const l of loops) expect(l.code, l.output).toBe(0);
    expect((await readFile(file, 'utf8')).trim()).toBe(String(5 * perLoop));
  }, 180_000);
});
