import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { cliArgv, runSh, shq, startCli, useCli } from './cli-helper.js';

const PTY_RUN = join(import.meta.dirname, 'pty-run.py');

/** The terminal is driven through python3's pty module. */
function hasPty(): boolean {
  try {
    execFileSync('python3', ['-c', 'import pty'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A node child that appends one line per SIGINT it receives (node counts every delivery), then exits 0. */
function counter(log: string): string[] {
  const script =
    `const fs = require('node:fs');` +
    `process.on('SIGINT', () => { fs.appendFileSync(${JSON.stringify(log)}, 'INT\\n'); setTimeout(() => process.exit(0), 1000); });` +
    `console.log('started'); setInterval(() => {}, 1000);`;
  return [process.execPath, '-e', script];
}

async function count(log: string): Promise<number> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l === 'INT').length;
}

describe('etcd-coord lock: one interrupt reaches the command exactly once', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-tty');
  let dir: string;
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-tty-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!hasPty())('Ctrl-C on a terminal (stdin is a TTY): the command gets one SIGINT', async () => {
    const log = join(dir, 'tty.log');
    const argv = [...cliArgv(), ...g(), 'lock', 'tty', '--', ...counter(log)];
    const r = await runSh(`python3 ${shq(PTY_RUN)} ${argv.map(shq).join(' ')}`);
    expect(r.output).toMatch(/exit 0/);
    expect(await count(log)).toBe(1);
  });

  it('SIGINT to etcd-coord without a terminal: the command gets one SIGINT', async () => {
    const log = join(dir, 'pipe.log');
    const cli = startCli([...g(), 'lock', 'pipe', '--', ...counter(log)]);
    await cli.waitForLine(/^started$/, 30_000);
    cli.kill('SIGINT');
    const exit = await cli.exited;
    expect(exit.code, cli.stderr()).toBe(0);
    expect(await count(log)).toBe(1);
  });
});
