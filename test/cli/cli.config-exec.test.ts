/**
 * `config exec <prefix> -- <cmd…>` as an envconsul replacement (issue 24): the config in the child's
 * environment, a restart only when that environment changes, the child's own exit status passed through.
 *
 * @module
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedEtcd, waitFor } from '../support/shared.js';
import { runCli, shq, startCli, useCli } from './cli-helper.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lines = async (file: string): Promise<string[]> =>
  (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('etcd-coord config exec', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-config-exec');
  let dir: string;
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  const put = (key: string, value: string) => etcd.admin.put(`${etcd.prefix}${key}`).value(value);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-config-exec-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the child sees the config as env vars; a changed value restarts it, the same value does not', async () => {
    const log = join(dir, 'env.log');
    await put('x1/db/url', 'pg://a b');
    await put('x1/pool', '5');
    const exec = startCli([
      ...g(),
      'config',
      'exec',
      'x1/',
      '--',
      'sh',
      '-c',
      `echo "$$ url=$DB_URL pool=$POOL" >> ${shq(log)}; exec sleep 1000`,
    ]);
    await waitFor(async () => (await lines(log)).length === 1, { timeoutMs: 30_000 });
    const [first] = await lines(log);
    expect(first).toMatch(/^\d+ url=pg:\/\/a b pool=5$/);
    for (let i = 0; i < 3; i++) {
      await put('x1/pool', '5');
      await sleep(300);
    }
    await put('x1/pool', '6');
    await waitFor(async () => (await lines(log)).length >= 2, { timeoutMs: 30_000 });
    await sleep(500);
    const all = await lines(log);
    expect(all.map((l) => l.replace(/^\d+ /, ''))).toEqual(['url=pg://a b pool=5', 'url=pg://a b pool=6']);
    const firstPid = Number(first?.split(' ')[0]);
    expect(alive(firstPid), 'the first child was stopped before the second started').toBe(false);
    const secondPid = Number(all[1]?.split(' ')[0]);
    // SIGTERM to the CLI: the child is stopped and the CLI exits with its status.
    exec.kill('SIGTERM');
    const exit = await exec.exited;
    expect(exit.code).toBe(143);
    expect(alive(secondPid)).toBe(false);
  });

  it("passes through the child's own exit status", async () => {
    await put('x2/code', '3');
    const r = await runCli([...g(), 'config', 'exec', 'x2/', '--', 'sh', '-c', 'exit "$CODE"']);
    expect(r.code, r.stderr).toBe(3);
  });

  it('two keys for one variable: exit 78 naming both, the command never starts', async () => {
    const log = join(dir, 'clash.log');
    await put('x3/db/url', 'a');
    await put('x3/db_url', 'b');
    const r = await runCli([...g(), 'config', 'exec', 'x3/', '--', 'sh', '-c', `echo ran >> ${shq(log)}`]);
    expect(r.code, r.stderr).toBe(78);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/"db\/url" and "db_url".*DB_URL/);
    expect(await lines(log)).toEqual([]);
  });

  it('--wait settles a burst into one restart; no command is a usage error', async () => {
    const log = join(dir, 'burst.log');
    await put('x4/v', '0');
    const exec = startCli([
      ...g(),
      'config',
      'exec',
      'x4/',
      '--wait',
      '800ms:10s',
      '--',
      'sh',
      '-c',
      `echo "v=$V" >> ${shq(log)}; exec sleep 1000`,
    ]);
    await waitFor(async () => (await lines(log)).length === 1, { timeoutMs: 30_000 });
    for (let i = 1; i <= 6; i++) {
      await put('x4/v', String(i));
      await sleep(60);
    }
    await waitFor(async () => (await lines(log)).length >= 2, { timeoutMs: 30_000 });
    await sleep(1000);
    expect(await lines(log)).toEqual(['v=0', 'v=6']);
    exec.kill('SIGINT');
    await exec.exited;

    const usage = await runCli([...g(), 'config', 'exec', 'x4/']);
    expect(usage.code).toBe(64);
    expect(usage.stderr).toMatch(/missing the command/);
  });
});
