import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedEtcd, waitFor } from '../support/shared.js';
import { runCli, shq, startCli, useCli } from './cli-helper.js';

describe('etcd-coord config', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-config');
  let dir: string;
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('set stores JSON values as JSON and other text as strings; get reads them back', async () => {
    expect((await runCli([...g(), 'config', 'set', 'app/', 'db/pool', '20'])).code).toBe(0);
    expect((await runCli([...g(), 'config', 'set', 'app/', 'db/url', 'postgres://db/app'])).code).toBe(0);
    const all = await runCli([...g(), '--json', 'config', 'get', 'app/']);
    expect(JSON.parse(all.stdout[0] ?? '')).toEqual({ db: { pool: 20, url: 'postgres://db/app' } });
    const one = await runCli([...g(), 'config', 'get', 'app/', 'db/url']);
    expect(one.stdout).toEqual(['postgres://db/app']);
    const missing = await runCli([...g(), 'config', 'get', 'app/', 'db/nope']);
    expect(missing.code).toBe(1);
    const conflict = await runCli([
      ...g(),
      'config',
      'set',
      'app/',
      'db/pool',
      '5',
      '--expect-revision',
      '1',
    ]);
    expect(conflict.code, conflict.stderr).toBe(1);
  });

  it('watch --render rewrites the file atomically on every change: never a partial file', async () => {
    const file = join(dir, 'render.json');
    const big = 'x'.repeat(64 * 1024); // large enough that a non-atomic write would be seen half-done
    await etcd.admin.put(`${etcd.prefix}r/blob`).value(JSON.stringify(big));
    await etcd.admin.put(`${etcd.prefix}r/n`).value('0');
    const watch = startCli([...g(), 'config', 'watch', 'r/', '--render', file]);
    await waitFor(async () => (JSON.parse(await readFile(file, 'utf8')) as { n: number }).n === 0, {
      timeoutMs: 30_000,
    });
    let reads = 0;
    let stop = false;
    const reader = (async () => {
      while (!stop) {
        const text = await readFile(file, 'utf8');
        const parsed = JSON.parse(text) as { n: number; blob: string }; // throws on a partial file
        expect(parsed.blob).toBe(big);
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let n = 1; n <= 20; n++) await etcd.admin.put(`${etcd.prefix}r/n`).value(String(n));
    await waitFor(async () => (JSON.parse(await readFile(file, 'utf8')) as { n: number }).n === 20, {
      timeoutMs: 30_000,
    });
    stop = true;
    await reader;
    expect(reads).toBeGreaterThan(0);
    watch.kill('SIGTERM');
    expect((await watch.exited).code).toBe(0);
  });

  it('watch --format env renders KEY=value lines', async () => {
    const file = join(dir, 'app.env');
    await etcd.admin.put(`${etcd.prefix}e/db/url`).value('pg://h/db');
    await etcd.admin.put(`${etcd.prefix}e/pool-size`).value('7');
    const watch = startCli([...g(), 'config', 'watch', 'e/', '--render', file, '--format', 'env']);
    await waitFor(async () => (await readFile(file, 'utf8')).includes('POOL_SIZE='), { timeoutMs: 30_000 });
    expect((await readFile(file, 'utf8')).split('\n').sort()).toEqual([
      '',
      "DB_URL='pg://h/db'",
      "POOL_SIZE='7'",
    ]);
    watch.kill('SIGINT');
    expect((await watch.exited).code).toBe(0);
  });

  it('watch --exec: the child gets SIGHUP on every change (after the file is rendered)', async () => {
    const file = join(dir, 'hup.json');
    const hups = join(dir, 'hups.log');
    await writeFile(hups, '');
    await etcd.admin.put(`${etcd.prefix}h/v`).value('1');
    const script = join(dir, 'reloader.sh');
    await writeFile(
      script,
      `trap 'echo "hup $(cat ${shq(file)} | tr -d " \\n")" >> ${shq(hups)}' HUP\necho ready >> ${shq(hups)}\nwhile :; do sleep 0.1; done\n`,
    );
    const watch = startCli([
      ...g(),
      'config',
      'watch',
      'h/',
      '--render',
      file,
      '--exec',
      `sh ${shq(script)}`,
      '--signal',
      'HUP',
    ]);
    await waitFor(async () => (await readFile(hups, 'utf8')).includes('ready'), { timeoutMs: 30_000 });
    await etcd.admin.put(`${etcd.prefix}h/v`).value('2');
    await waitFor(async () => (await readFile(hups, 'utf8')).includes('hup {"v":2}'), {
      timeoutMs: 30_000,
      message: 'SIGHUP seen with the new file',
    });
    watch.kill('SIGTERM');
    const exit = await watch.exited;
    expect(exit.code).toBe(143); // the child's status after the forwarded SIGTERM
  });

  it('watch --exec without --signal restarts the child on change', async () => {
    const starts = join(dir, 'starts.log');
    await etcd.admin.put(`${etcd.prefix}s/v`).value('1');
    const watch = startCli([
      ...g(),
      'config',
      'watch',
      's/',
      '--',
      'sh',
      '-c',
      `echo "start $ETCD_COORD_CONFIG_REVISION" >> ${shq(starts)}; exec sleep 1000`,
    ]);
    await waitFor(async () => (await readFile(starts, 'utf8').catch(() => '')).includes('start'), {
      timeoutMs: 30_000,
    });
    await etcd.admin.put(`${etcd.prefix}s/v`).value('2');
    await waitFor(async () => (await readFile(starts, 'utf8')).trim().split('\n').length === 2, {
      timeoutMs: 30_000,
    });
    watch.kill('SIGTERM');
    await watch.exited;
  });
});
