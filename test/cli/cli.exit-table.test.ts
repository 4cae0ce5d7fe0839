/**
 * The exit-status table in `etcd-coord --help` against reality (issue 24): every code the CLI chooses
 * (`ExitCode`) is in the table, every code in the table is one it chooses, and each is produced by the
 * situation the table names, with a one-line message.
 *
 * @module
 */
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/cli/exit-codes.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';
import { runCli, startCli, useCli, type CliRun } from './cli-helper.js';

/** `{ code → description }` from the "Exit status:" paragraph of the root help. */
function parseTable(help: string): Map<string, string> {
  const start = help.indexOf('Exit status:');
  const end = help.indexOf('\n\n', start);
  const text = help
    .slice(start + 'Exit status:'.length, end)
    .replace(/\s+/g, ' ')
    .trim();
  const table = new Map<string, string>();
  for (const entry of text.split(';')) {
    const m = /^\s*(\d+(?:\/\d+)?|128\+N)\s+(.*?)\.?\s*$/.exec(entry);
    if (m?.[1] === undefined || m[2] === undefined)
      throw new Error(`unparsable exit-status entry "${entry}"`);
    for (const code of m[1].split('/')) table.set(code, m[2]);
  }
  return table;
}

/** Stderr holds exactly one `etcd-coord:` line. */
function oneLine(r: CliRun): string {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^etcd-coord: /);
  return lines[0] ?? '';
}

describe('the exit-status table in --help is what the CLI does', { timeout: 90_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-exit-table');
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  let table = new Map<string, string>();
  const documented = (code: number, words: RegExp): number => {
    expect(table.get(String(code)), `exit ${code} in the help table`).toMatch(words);
    return code;
  };

  it('lists exactly the codes the CLI chooses, plus 128+N', async () => {
    const help = await runCli(['--help']);
    table = parseTable(help.stdout.join('\n'));
    const chosen = new Set(Object.values(ExitCode).map(String));
    expect(new Set([...table.keys()].filter((c) => c !== '128+N'))).toEqual(chosen);
    expect(table.get('128+N')).toMatch(/signal/);
  });

  it('1: a key that holds no counter, a missing config key', async () => {
    if (table.size === 0) table = parseTable((await runCli(['--help'])).stdout.join('\n'));
    await etcd.admin.put(`${etcd.prefix}not-a-counter`).value('hello');
    const r = await runCli([...g(), 'counter', 'get', 'not-a-counter']);
    expect(r.code, r.stderr).toBe(documented(1, /failed/));
    expect(oneLine(r)).toMatch(/not-a-counter.*not a decimal integer/);
    expect(oneLine(r)).not.toMatch(/internal error/);
    const missing = await runCli([...g(), 'config', 'get', 'cfg/', 'nope']);
    expect(missing.code, missing.stderr).toBe(1);
  });

  it('0 ok, 74 a --render file that cannot be written (70, an internal error, has no recipe)', async () => {
    if (table.size === 0) table = parseTable((await runCli(['--help'])).stdout.join('\n'));
    const ok = await runCli([...g(), 'counter', 'get', 'fresh']);
    expect(ok.code, ok.stderr).toBe(documented(0, /ok/));
    const io = await runCli([...g(), 'config', 'watch', 'cfg/', '--render', '/nonexistent-dir/x.json']);
    expect(io.code, io.stderr).toBe(documented(74, /I\/O/));
    oneLine(io);
    expect(table.get('70')).toMatch(/internal/);
  });

  it('78 a config that cannot be rendered: a template that does not parse, two keys for one env name', async () => {
    if (table.size === 0) table = parseTable((await runCli(['--help'])).stdout.join('\n'));
    const tmpl = join(tmpdir(), `etcd-coord-broken-${process.pid}.tmpl`);
    await writeFile(tmpl, '{{oops}\n');
    const broken = await runCli([
      ...g(),
      'config',
      'watch',
      'cfg/',
      '--template',
      tmpl,
      '--out',
      `${tmpl}.out`,
    ]);
    await rm(tmpl, { force: true });
    expect(broken.code, broken.stderr).toBe(documented(78, /config error/));
    expect(oneLine(broken)).toContain(tmpl);
    await etcd.admin.put(`${etcd.prefix}clash/a/b`).value('1');
    await etcd.admin.put(`${etcd.prefix}clash/a_b`).value('2');
    const clash = await runCli([...g(), 'config', 'exec', 'clash/', '--', 'true']);
    expect(clash.code, clash.stderr).toBe(78);
    expect(oneLine(clash)).toMatch(/"a\/b" and "a_b"/);
  });

  it('64 usage, 69 unavailable, 77 credentials for an etcd without auth', async () => {
    if (table.size === 0) table = parseTable((await runCli(['--help'])).stdout.join('\n'));
    const usage = await runCli(['lock', 'x', '--tll', '5']);
    expect(usage.code).toBe(documented(64, /usage/));
    const down = await runCli(['--endpoints', '127.0.0.1:1', '--dial-timeout', '500ms', 'status']);
    expect(down.code, down.stderr).toBe(documented(69, /unavailable/));
    oneLine(down);
    const auth = await runCli([...g(), '--user', 'root:pw', 'counter', 'get', 'c']);
    expect(auth.code, auth.stderr).toBe(documented(77, /permission/));
    expect(oneLine(auth)).toMatch(/authentication (is )?(not enabled|disabled)/);
    expect(oneLine(auth)).not.toMatch(/internal error|FAILED_PRECONDITION/);
  });

  it('75 not acquired, 79 lost while running (lease revoked by an operator, said so), 126/127', async () => {
    if (table.size === 0) table = parseTable((await runCli(['--help'])).stdout.join('\n'));
    const holder = startCli([...g(), 'lock', 'held', '--', 'sleep', '30']);
    const key = await waitFor(
      async () => (await etcd.admin.getAll().prefix(`${etcd.prefix}held/`).keys())[0] ?? '',
    );
    const busy = await runCli([...g(), 'lock', 'held', '--try', '--', 'true']);
    expect(busy.code, busy.stderr).toBe(documented(75, /not acquired/));
    oneLine(busy);
    // What an operator does: revoke the holder's lease (the key's suffix is the lease id in hex).
    const leaseId = BigInt(`0x${key.split('/').at(-1) ?? ''}`);
    await etcd.admin.leaseClient.leaseRevoke({ ID: leaseId.toString() });
    const exit = await holder.exited;
    expect(exit.code, holder.stderr()).toBe(documented(79, /lost/));
    expect(holder.stderr()).toMatch(/lease [0-9a-f]+ was revoked/);
    expect(holder.stderr()).not.toMatch(/deleted by someone else/);

    const notFound = await runCli([...g(), 'lock', 'x127', '--', '/nonexistent/cmd']);
    expect(notFound.code).toBe(documented(127, /not found/));
    const plain = join(tmpdir(), `etcd-coord-not-executable-${process.pid}`);
    await writeFile(plain, 'not a program\n', { mode: 0o644 });
    const notExec = await runCli([...g(), 'lock', 'x126', '--', plain]);
    await rm(plain, { force: true });
    expect(notExec.code).toBe(documented(126, /not executable/));
  });

  it('80 slot already done, 81 the slot failed elsewhere', async () => {
    if (table.size === 0) table = parseTable((await runCli(['--help'])).stdout.join('\n'));
    expect((await runCli([...g(), 'once', 'job', '--slot', 'ok', '--', 'true'])).code).toBe(0);
    const again = await runCli([...g(), 'once', 'job', '--slot', 'ok', '--', 'true']);
    expect(again.code, again.stderr).toBe(documented(80, /already done/));
    expect((await runCli([...g(), 'once', 'job', '--slot', 'bad', '--', 'false'])).code).toBe(1);
    const failed = await runCli([...g(), 'once', 'job', '--slot', 'bad', '--', 'true']);
    expect(failed.code, failed.stderr).toBe(documented(81, /failed elsewhere/));
  });
});
