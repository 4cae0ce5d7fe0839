import { execFile } from 'node:child_process';
import { chmod, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { cliEntry, runCli, useCli } from './cli-helper.js';

const COMMANDS = [
  'lock',
  'elect',
  'once',
  'register',
  'discover',
  'config',
  'queue',
  'counter',
  'ls',
  'status',
];
const PASSWORD = `pw-${Math.random().toString(36).slice(2)}-secret`;

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('etcd-coord errors, usage and secrets', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-errors');

  it('unreachable etcd: one line on stderr and exit 69, within the dial timeout', async () => {
    const port = await closedPort();
    for (const args of [['status'], ['lock', 'x', '--', 'true'], ['counter', 'get', 'c']]) {
      const r = await runCli(['--endpoints', `127.0.0.1:${port}`, '--dial-timeout', '1s', ...args]);
      expect(r.code, r.stderr).toBe(69);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^etcd-coord: .*did not answer within 1000 ms/);
    }
  });

  it('bad arguments: a usage message and exit 64', async () => {
    const cases: string[][] = [
      [],
      ['frobnicate'],
      ['lock'],
      ['lock', 'x', '--shell'],
      ['lock', 'x', '--bogus', '--', 'true'],
      ['lock', 'x', '--timeout', 'soon', '--', 'true'],
      ['lock', 'x', '--ttl', '1', '--', 'true'],
      ['once', 'job', '--', 'true'],
      ['register', 'svc'],
      ['config', 'watch', 'p/', '--format', 'yaml', '--render', 'f'],
      ['queue', 'frob', 'q'],
      ['counter', 'add', 'c', 'many'],
      ['ls', 'a', 'b'],
      ['status', 'extra'],
    ];
    const runs = await Promise.all(cases.map((args) => runCli(args)));
    for (const [i, args] of cases.entries()) {
      const r = runs[i] ?? { code: null, stderr: '', stdout: [] };
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(64);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/--help/);
      expect(r.stdout).toEqual([]);
    }
  });

  it('--help on every command: usage and examples, exit 0', async () => {
    const runs = await Promise.all(COMMANDS.map((command) => runCli([command, '--help'])));
    for (const [i, command] of COMMANDS.entries()) {
      const r = runs[i] ?? { code: null, stdout: [] };
      expect(r.code, command).toBe(0);
      const text = r.stdout.join('\n');
      expect(text).toMatch(new RegExp(`^Usage: etcd-coord ${command}`));
      expect(text).toMatch(/Examples:\n {2}etcd-coord /);
      expect(text).toMatch(/--endpoints/);
    }
    const root = await runCli(['--help']);
    expect(root.code).toBe(0);
    for (const command of COMMANDS) expect(root.stdout.join('\n')).toContain(`  ${command} `);
  });

  it('a password given by env never appears in any output', async () => {
    const env = { ETCD_USER: 'alice', ETCD_PASSWORD: PASSWORD };
    const port = await closedPort();
    const g = ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
    const runs = await Promise.all([
      runCli(['status', ...g], env), // this etcd has no auth: the login is refused
      runCli(['status', ...g, '--json', '--debug'], env),
      runCli(['--endpoints', `127.0.0.1:${port}`, '--dial-timeout', '1s', '--debug', 'status'], env),
      runCli(['lock', 'x', '--bogus', '--', 'true'], env),
      runCli(['lock', '--help'], env),
      runCli(['--help'], env),
      runCli(['status', ...g, '--user', `bob:${PASSWORD}`, '--debug']),
    ]);
    for (const r of runs) expect(r.stdout.join('\n') + r.stderr).not.toContain(PASSWORD);
  });
});

describe('the built etcd-coord binary', () => {
  useCli();

  it('runs through its shebang and reports its version', async () => {
    const main = cliEntry();
    if (main.endsWith('.ts')) return; // ETCD_COORD_CLI=src: nothing built to check
    expect((await readFile(main, 'utf8')).startsWith('#!/usr/bin/env node\n')).toBe(true);
    await chmod(main, 0o755);
    const { stdout } = await promisify(execFile)(main, ['--version'], {
      env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
    });
    expect(stdout).toMatch(/^etcd-coord \d+\.\d+\.\d+\n$/);
  });
});
