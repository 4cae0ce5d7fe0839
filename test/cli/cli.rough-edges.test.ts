/**
 * What a first user trips on in the CLI (issue 24): a closed stdout pipe, a mistyped option, negative
 * numbers, `lock` without a command, `--shell`.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { exitOf, track } from '../support/reaper.js';
import { useSharedEtcd, waitFor } from '../support/shared.js';
import { cliArgv, cliEnv, runCli, startCli, useCli } from './cli-helper.js';

describe('etcd-coord rough edges a first user meets', { timeout: 60_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-rough');
  const global = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];

  it('a reader that closes the pipe (`ls | head`): exit 141, nothing on stderr', async () => {
    const value = 'v'.repeat(200);
    // 500 keys of 200 bytes: far more than a pipe buffer, so ls is still writing when the reader goes.
    for (let b = 0; b < 5; b++) {
      const ops = Array.from({ length: 100 }, (_, i) =>
        etcd.admin.put(`${etcd.prefix}big/${String(b * 100 + i).padStart(4, '0')}`).value(value),
      );
      await etcd.admin
        .if(`${etcd.prefix}big/`, 'Version', '>', -1)
        .then(...ops)
        .commit();
    }
    const [node = '', ...pre] = cliArgv();
    const child = spawn(node, [...pre, ...global(), 'ls', 'big/'], {
      env: { ...process.env, ...cliEnv() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    track(child);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    // What `head -1` does: read the first chunk, then close its end of the pipe.
    child.stdout.once('data', () => child.stdout.destroy());
    const exit = await exitOf(child);
    expect(stderr).toBe('');
    expect(exit).toEqual({ code: 141, signal: null });
  });

  it('a mistyped option: "unknown option --tll (did you mean --ttl?)", exit 64', async () => {
    const r = await runCli(['lock', 'x', '--tll', '5', '--', 'true']);
    expect(r.code).toBe(64);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^etcd-coord: unknown option --tll \(did you mean --ttl\?\) \(see "etcd-coord lock --help"\)$/m,
    );
    const far = await runCli(['status', '--frobnicate']);
    expect(far.code).toBe(64);
    expect(far.stderr).toMatch(/^etcd-coord: unknown option --frobnicate \(see/);
    expect(far.stderr).not.toMatch(/did you mean|as in/);
  });

  it('negative numbers: `counter add c -3` without "--", and `--priority -3` as an option value', async () => {
    const set = await runCli([...global(), 'counter', 'add', 'neg', '10']);
    expect(set.stdout, set.stderr).toEqual(['10']);
    const sub = await runCli([...global(), 'counter', 'add', 'neg', '-3']);
    expect(sub.code, sub.stderr).toBe(0);
    expect(sub.stdout).toEqual(['7']);
    const old = await runCli([...global(), 'counter', 'add', 'neg', '--', '-2']);
    expect(old.stdout, old.stderr).toEqual(['5']);
    // As an option's value, the number reaches the option's own check (not parseArgs' "ambiguous").
    const prio = await runCli([...global(), 'queue', 'push', 'q', 'x', '--priority', '-3']);
    expect(prio.code).toBe(64);
    expect(prio.stderr).toMatch(/^etcd-coord: --priority: expected an integer in \[0, 999999\], got "-3"/);
  });

  it('`lock <name>` with no command holds the lock and prints its key until interrupted', async () => {
    const holder = startCli([...global(), 'lock', 'hold']);
    const line = await holder.waitForLine(/hold\//, 15_000);
    // The full etcd key, as `etcdctl lock` prints it and ETCD_LOCK_KEY holds it.
    expect(line).toBe(`${etcd.prefix}hold/${line.split('/').at(-1) ?? ''}`);
    expect(line).toMatch(/\/hold\/[0-9a-f]+$/);
    const held = await runCli([...global(), 'lock', 'hold', '--try', '--', 'true']);
    expect(held.code, held.stderr).toBe(75);
    holder.kill('SIGINT');
    const exit = await holder.exited;
    expect(exit.code, holder.stderr()).toBe(130);
    // Released on the way out: the next one gets it at once.
    const next = await runCli([...global(), 'lock', 'hold', '--try', '--', 'true']);
    expect(next.code, next.stderr).toBe(0);
  });

  it('`lock <name> --json` with no command prints the key and fencing token as JSON', async () => {
    const holder = startCli([...global(), 'lock', 'hold-json', '--json']);
    const line = await holder.waitForLine(/^\{/, 15_000);
    const out = JSON.parse(line) as { key: string; fencingToken: string };
    expect(out.key).toMatch(new RegExp(`^${etcd.prefix}hold-json/[0-9a-f]+$`));
    expect(BigInt(out.fencingToken)).toBeGreaterThan(0n);
    holder.kill('SIGTERM');
    expect((await holder.exited).code).toBe(143);
  });

  it('--verbose says who holds the lock and how many wait, then when it was acquired', async () => {
    const holder = startCli([...global(), 'lock', 'verbose']);
    const key = await holder.waitForLine(/verbose\//, 15_000);
    const waiter = startCli([...global(), 'lock', 'verbose', '--verbose', '--', 'true']);
    await waitFor(() => /waiting for lock/.test(waiter.stderr()), { message: 'the waiting line' });
    const lease = key.split('/').at(-1) ?? '';
    expect(waiter.stderr()).toMatch(
      new RegExp(
        `^etcd-coord: waiting for lock "verbose": held by verbose/${lease} \\(lease ${lease}, fencing token \\d+\\); 0 waiting ahead$`,
        'm',
      ),
    );
    holder.kill('SIGTERM');
    expect((await waiter.exited).code, waiter.stderr()).toBe(0);
    expect(waiter.stderr()).toMatch(
      /^etcd-coord: acquired lock "verbose" after \d+\.\ds \(key verbose\/[0-9a-f]+, fencing token \d+\)$/m,
    );
    await holder.exited;
  });

  it('--shell runs the command through sh -c, with the lock env', async () => {
    const script = 'test -n "$ETCD_LOCK_KEY" && echo "held $ETCD_COORD_FENCING_TOKEN" | tr a-z A-Z; exit 3';
    const r = await runCli([...global(), 'lock', 'sh', '--shell', '--', script]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toHaveLength(1);
    expect(r.stdout[0]).toMatch(/^HELD \d+$/);
    const two = await runCli([...global(), 'lock', 'sh', '--shell', '--', 'echo', 'a']);
    expect(two.code).toBe(64);
    expect(two.stderr).toMatch(/--shell takes one argument/);
  });
});
