import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { runCli, shq, startCli, useCli } from './cli-helper.js';

describe('etcd-coord queue work: a graceful SIGTERM mid-job', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-queue-shutdown');
  let dir: string;
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-queue-shutdown-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Pushes one job, starts a worker with `handler`, SIGTERMs it once the handler runs; returns its exit. */
  async function interrupt(queue: string, handler: string, flags: string[] = []): Promise<number | null> {
    expect((await runCli([...g(), 'queue', 'push', queue, 'payload'])).code).toBe(0);
    const worker = startCli([...g(), 'queue', 'work', queue, ...flags, '--', 'sh', '-c', handler]);
    await worker.waitForLine(/^started$/, 30_000);
    worker.kill('SIGTERM');
    const exit = await worker.exited;
    return exit.code;
  }

  async function popAttempt(queue: string): Promise<number> {
    const popped = await runCli([...g(), '--json', 'queue', 'pop', queue, '--timeout', '5s']);
    expect(popped.code, popped.stderr).toBe(0);
    return (JSON.parse(popped.stdout[0] ?? '{}') as { attempt: number }).attempt;
  }

  it('a handler that exits 0 on SIGTERM is acked: the job does not run again', async () => {
    const log = join(dir, 'exit0.log');
    const code = await interrupt(
      'exit0',
      `trap 'echo term >> ${shq(log)}; exit 0' TERM; echo started; while :; do sleep 0.1; done`,
    );
    expect(code).toBe(0);
    expect(await readFile(log, 'utf8')).toBe('term\n');
    expect((await runCli([...g(), 'queue', 'size', 'exit0'])).stdout).toEqual(['0']);
  });

  it('a handler that finishes its work within the grace period is acked', async () => {
    const code = await interrupt('finish', `trap '' TERM; echo started; sleep 1; exit 0`);
    expect(code).toBe(0);
    expect((await runCli([...g(), 'queue', 'size', 'finish'])).stdout).toEqual(['0']);
  });

  it('a handler killed by the shutdown is given back without counting the delivery', async () => {
    const code = await interrupt('killed', `echo started; exec sleep 30`);
    expect(code).toBe(0);
    expect(await popAttempt('killed')).toBe(1);
  });

  it('a handler still running after --grace is SIGKILLed and given back without counting', async () => {
    const code = await interrupt('stubborn', `trap '' TERM; echo started; while :; do sleep 0.1; done`, [
      '--grace',
      '1s',
    ]);
    expect(code).toBe(0);
    expect(await popAttempt('stubborn')).toBe(1);
  });

  it('a handler that fails on its own during shutdown is nacked as usual (the delivery counts)', async () => {
    const code = await interrupt('fails', `trap 'exit 3' TERM; echo started; while :; do sleep 0.1; done`);
    expect(code).toBe(0);
    expect(await popAttempt('fails')).toBe(2);
  });
});
