import { describe, expect, it } from 'vitest';
import { useSharedEtcd, waitFor } from '../support/shared.js';
import { runCli, startCli, useCli } from './cli-helper.js';

describe('etcd-coord register / discover', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-reg');
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  const instanceKey = (service: string, id: string): string => `${etcd.prefix}services/${service}/${id}`;

  it('SIGTERM deregisters at once', async () => {
    const reg = startCli([
      ...g(),
      'register',
      'web',
      '--address',
      '10.0.0.1:80',
      '--id',
      'a',
      '--meta',
      'zone=eu',
      '--meta',
      'weight=3',
    ]);
    await reg.waitForLine(/^registered /, 30_000);
    const value = await etcd.admin.get(instanceKey('web', 'a')).json();
    expect(value).toEqual({ Addr: '10.0.0.1:80', Metadata: { zone: 'eu', weight: 3 } });
    const found = await runCli([...g(), '--json', 'discover', 'web']);
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout.map((l) => JSON.parse(l) as { id: string; address: string })).toMatchObject([
      { id: 'a', address: '10.0.0.1:80' },
    ]);

    reg.kill('SIGTERM');
    const exit = await reg.exited;
    expect(exit.code, reg.stderr()).toBe(0);
    // Gone as soon as the CLI has exited: deregistered, not left to expire.
    expect(await etcd.admin.get(instanceKey('web', 'a')).string()).toBeNull();
  });

  it('kill -9: the instance disappears after the TTL', async () => {
    const reg = startCli([...g(), 'register', 'api', '--address', '10.0.0.2:80', '--id', 'b', '--ttl', '2']);
    await reg.waitForLine(/^registered /, 30_000);
    const watcher = startCli([...g(), 'discover', 'api', '--watch']);
    await watcher.waitForLine(/^b 10\.0\.0\.2:80/, 30_000);
    reg.kill('SIGKILL');
    await reg.exited;
    expect(await etcd.admin.get(instanceKey('api', 'b')).string()).not.toBeNull();
    await waitFor(async () => (await etcd.admin.get(instanceKey('api', 'b')).string()) === null, {
      timeoutMs: 20_000,
      message: 'instance expired',
    });
    await watcher.waitForLine(/^down b 10\.0\.0\.2:80/, 20_000);
    watcher.kill('SIGINT');
    expect((await watcher.exited).code).toBe(0);
  });

  it('with a command: registered while it runs, exit code propagated, deregistered after', async () => {
    const r = await runCli([
      ...g(),
      'register',
      'job',
      '--address',
      'h:1',
      '--id',
      'c',
      '--',
      'sh',
      '-c',
      'echo "key=$ETCD_COORD_INSTANCE_KEY"; exit 4',
    ]);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stdout).toEqual([`key=${instanceKey('job', 'c')}`]);
    expect(await etcd.admin.get(instanceKey('job', 'c')).string()).toBeNull();
  });
});
