import { describe, expect, it } from 'vitest';
import { useSharedEtcd } from '../support/shared.js';
import { runCli, useCli } from './cli-helper.js';

describe('etcd-coord ls / counter / status', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-inspect');
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];

  it('ls streams keys and values at one revision; --keys-only, --json, --rev', async () => {
    for (let i = 0; i < 25; i++)
      await etcd.admin.put(`${etcd.prefix}ls/k${String(i).padStart(2, '0')}`).value(`v${i}`);
    const at = await runCli([...g(), '--json', 'ls', 'ls/', '--page-size', '4']);
    expect(at.code, at.stderr).toBe(0);
    const rows = at.stdout.map((l) => JSON.parse(l) as { key: string; value: string; modRevision: string });
    expect(rows.map((r) => r.key)).toEqual(
      Array.from({ length: 25 }, (_, i) => `ls/k${String(i).padStart(2, '0')}`),
    );
    expect(rows[3]?.value).toBe('v3');
    const rev = rows.reduce((max, r) => (BigInt(r.modRevision) > max ? BigInt(r.modRevision) : max), 0n);
    await etcd.admin.put(`${etcd.prefix}ls/k00`).value('changed');
    await etcd.admin.put(`${etcd.prefix}ls/zz`).value('new');
    const old = await runCli([...g(), 'ls', 'ls/', '--rev', rev.toString(), '--page-size', '7']);
    expect(old.stdout.length).toBe(50);
    expect(old.stdout.slice(0, 2)).toEqual(['ls/k00', 'v0']);
    const keys = await runCli([...g(), 'ls', 'ls/', '--keys-only', '--reverse']);
    expect(keys.stdout[0]).toBe('ls/zz');
    expect(keys.stdout).toHaveLength(26);
  });

  it('counter incr / add / get, atomic and version-based', async () => {
    expect((await runCli([...g(), 'counter', 'incr', 'hits'])).stdout).toEqual(['1']);
    expect((await runCli([...g(), 'counter', 'add', 'hits', '10'])).stdout).toEqual(['11']);
    expect((await runCli([...g(), 'counter', 'add', 'hits', '--', '-4'])).stdout).toEqual(['7']);
    expect((await runCli([...g(), '--json', 'counter', 'get', 'hits'])).stdout).toEqual([
      '{"name":"hits","value":"7"}',
    ]);
    const ids = await Promise.all(
      [0, 1, 2, 3].map(() => runCli([...g(), 'counter', 'incr', 'ids', '--kind', 'version'])),
    );
    expect(ids.map((r) => r.stdout[0]).sort()).toEqual(['1', '2', '3', '4']);
    expect((await runCli([...g(), 'counter', 'get', 'ids', '--kind', 'version'])).stdout).toEqual(['4']);
  });

  it('status shows the cluster and revision', async () => {
    const r = await runCli([...g(), '--json', 'status']);
    expect(r.code, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout[0] ?? '{}') as {
      endpoints: string[];
      namespace: string;
      auth: string;
      revision: string;
      members: unknown[];
    };
    expect(info).toMatchObject({ endpoints: etcd.endpoints, namespace: etcd.prefix, auth: 'none' });
    expect(BigInt(info.revision)).toBeGreaterThan(0n);
    expect(info.members.length).toBeGreaterThanOrEqual(1);
    const text = await runCli([...g(), 'status']);
    expect(text.stdout.join('\n')).toMatch(
      /^endpoints: .*\nnamespace: .*\nauth: {6}none\ncluster: {3}[0-9a-f]+/,
    );
  });
});
