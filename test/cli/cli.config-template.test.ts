/**
 * `config watch` as a consul-template replacement (issue 24): Handlebars templates, output written and the
 * child reloaded only when the bytes change, `--wait` quiescence, env files a shell can source.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedEtcd, waitFor } from '../support/shared.js';
import { runCli, runSh, shq, startCli, useCli, type CliRun } from './cli-helper.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const lines = async (file: string): Promise<string[]> =>
  (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');

/** Stderr is exactly one `etcd-coord:` line; returns it. */
function oneLine(r: CliRun): string {
  const all = r.stderr.trim().split('\n');
  expect(all, r.stderr).toHaveLength(1);
  return all[0] ?? '';
}

describe('etcd-coord config watch: templates, change-only reloads, --wait, env', { timeout: 120_000 }, () => {
  useCli();
  const etcd = useSharedEtcd('cli-config-tmpl');
  let dir: string;
  const g = (): string[] => ['--endpoints', etcd.endpoints.join(','), '--namespace', etcd.prefix];
  const put = (key: string, value: string) => etcd.admin.put(`${etcd.prefix}${key}`).value(value);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-config-tmpl-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--template renders with Handlebars (no HTML escaping) and re-renders on change', async () => {
    const tmpl = join(dir, 'up.tmpl');
    const out = join(dir, 'up.conf');
    await writeFile(
      tmpl,
      'upstream {{db.host}}:{{db.port}}; # {{note}}\n{{#each db}}{{@key}}={{this}}\n{{/each}}',
    );
    await put('t1/db/host', 'db-1');
    await put('t1/db/port', '5432');
    await put('t1/note', 'a<b & "c"');
    const watch = startCli([...g(), 'config', 'watch', 't1/', '--template', tmpl, '--out', out]);
    await waitFor(async () => existsSync(out), { timeoutMs: 30_000, message: 'rendered' });
    expect(await readFile(out, 'utf8')).toBe('upstream db-1:5432; # a<b & "c"\nhost=db-1\nport=5432\n');
    await put('t1/db/port', '6432');
    await waitFor(async () => (await readFile(out, 'utf8')).startsWith('upstream db-1:6432;'), {
      timeoutMs: 30_000,
    });
    watch.kill('SIGTERM');
    expect((await watch.exited).code).toBe(0);
  });

  it('a template that uses a missing key, or does not parse: exit 78, one line naming the file, nothing written', async () => {
    await put('t2/db/host', 'db-1');
    const missing = join(dir, 'missing.tmpl');
    await writeFile(missing, 'host {{db.host}}\nport {{db.port}}\n');
    const out = join(dir, 'missing.conf');
    const r = await runCli([...g(), 'config', 'watch', 't2/', '--template', missing, '--out', out]);
    expect(r.code, r.stderr).toBe(78);
    expect(oneLine(r)).toMatch(
      new RegExp(`${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*"port" is not in the config`),
    );
    expect(existsSync(out)).toBe(false);

    const broken = join(dir, 'broken.tmpl');
    await writeFile(broken, 'host {{db.host}\n');
    const b = await runCli([...g(), 'config', 'watch', 't2/', '--template', broken, '--out', out]);
    expect(b.code, b.stderr).toBe(78);
    expect(oneLine(b)).toContain(broken);
    expect(existsSync(out)).toBe(false);

    // Negative control: the same template once the key exists renders and exits 0 on SIGTERM.
    await put('t2/db/port', '1');
    const ok = startCli([...g(), 'config', 'watch', 't2/', '--template', missing, '--out', out]);
    await waitFor(async () => (await readFile(out, 'utf8')) === 'host db-1\nport 1\n', { timeoutMs: 30_000 });
    ok.kill('SIGTERM');
    expect((await ok.exited).code).toBe(0);
  });

  it('a key the template needs deleted while running: one line on stderr, file and child kept, then re-rendered', async () => {
    const tmpl = join(dir, 'later.tmpl');
    const out = join(dir, 'later.conf');
    const starts = join(dir, 'later.starts');
    await writeFile(tmpl, 'port {{port}}\n');
    await put('t6/port', '1');
    const watch = startCli([
      ...g(),
      'config',
      'watch',
      't6/',
      '--template',
      tmpl,
      '--out',
      out,
      '--',
      'sh',
      '-c',
      `echo "start $(cat ${shq(out)})" >> ${shq(starts)}; exec sleep 1000`,
    ]);
    await waitFor(async () => (await lines(starts)).length === 1, { timeoutMs: 30_000 });
    await etcd.admin.delete().key(`${etcd.prefix}t6/port`);
    await waitFor(async () => watch.stderr().includes('"port" is not in the config'), { timeoutMs: 30_000 });
    expect(watch.stderr()).toContain(tmpl);
    expect(await readFile(out, 'utf8')).toBe('port 1\n');
    await put('t6/port', '2');
    await waitFor(async () => (await lines(starts)).length === 2, { timeoutMs: 30_000 });
    expect(await lines(starts)).toEqual(['start port 1', 'start port 2']);
    expect(watch.stderr().trim().split('\n')).toHaveLength(1);
    watch.kill('SIGTERM');
    await watch.exited;
  });

  it('the same value written 3 times: no rewrite, 0 restarts; a real change: one restart', async () => {
    const out = join(dir, 'same.json');
    const starts = join(dir, 'same.starts');
    await put('t3/v', '1');
    const watch = startCli([
      ...g(),
      'config',
      'watch',
      't3/',
      '--render',
      out,
      '--',
      'sh',
      '-c',
      `echo "start $(tr -d ' \\n' < ${shq(out)})" >> ${shq(starts)}; exec sleep 1000`,
    ]);
    await waitFor(async () => (await lines(starts)).length === 1, { timeoutMs: 30_000 });
    const inode = (await stat(out)).ino;
    for (let i = 0; i < 3; i++) {
      await put('t3/v', '1');
      await sleep(300);
    }
    expect((await stat(out)).ino, 'the file was not replaced').toBe(inode);
    await put('t3/v', '2');
    await waitFor(async () => (await lines(starts)).some((l) => l.includes('"v":2')), { timeoutMs: 30_000 });
    // The puts are applied in order: a restart for any of the three would be a line before this one.
    expect(await lines(starts)).toEqual(['start {"v":1}', 'start {"v":2}']);
    watch.kill('SIGTERM');
    await watch.exited;
  });

  it('a change to a key the template does not use: no rewrite, no signal', async () => {
    const tmpl = join(dir, 'used.tmpl');
    const out = join(dir, 'used.conf');
    const hups = join(dir, 'used.hups');
    await writeFile(hups, '');
    await writeFile(tmpl, 'v={{v}}\n');
    await put('t4/v', '1');
    await put('t4/unused', 'a');
    const script = join(dir, 'used.sh');
    await writeFile(
      script,
      `trap 'echo "hup $(cat ${shq(out)})" >> ${shq(hups)}' HUP\necho ready >> ${shq(hups)}\nwhile :; do sleep 0.1; done\n`,
    );
    const watch = startCli([
      ...g(),
      'config',
      'watch',
      't4/',
      '--template',
      tmpl,
      '--out',
      out,
      '--exec',
      `sh ${shq(script)}`,
      '--signal',
      'HUP',
    ]);
    await waitFor(async () => (await lines(hups)).includes('ready'), { timeoutMs: 30_000 });
    const inode = (await stat(out)).ino;
    for (const v of ['b', 'c', 'd']) {
      await put('t4/unused', v);
      await sleep(300);
    }
    expect((await stat(out)).ino).toBe(inode);
    await put('t4/v', '2');
    await waitFor(async () => (await lines(hups)).includes('hup v=2'), { timeoutMs: 30_000 });
    expect(await lines(hups)).toEqual(['ready', 'hup v=2']);
    watch.kill('SIGTERM');
    await watch.exited;
  });

  it('--wait 800ms:10s: a burst of 6 writes is one render and one restart, with the last value', async () => {
    const out = join(dir, 'burst.json');
    const starts = join(dir, 'burst.starts');
    await put('t5/v', '0');
    const watch = startCli([
      ...g(),
      'config',
      'watch',
      't5/',
      '--render',
      out,
      '--wait',
      '800ms:10s',
      '--',
      'sh',
      '-c',
      `echo "start $(tr -d ' \\n' < ${shq(out)})" >> ${shq(starts)}; exec sleep 1000`,
    ]);
    await waitFor(async () => (await lines(starts)).length === 1, { timeoutMs: 30_000 });
    for (let i = 1; i <= 6; i++) {
      await put('t5/v', String(i));
      await sleep(60);
    }
    await waitFor(async () => (await lines(starts)).length >= 2, { timeoutMs: 30_000 });
    await sleep(1000); // room for any further (wrong) restart
    expect(await lines(starts)).toEqual(['start {"v":0}', 'start {"v":6}']);
    watch.kill('SIGTERM');
    await watch.exited;
  });

  it('--wait with a bad value is a usage error (64) naming --wait', async () => {
    for (const bad of ['2s:1s', 'soon', '1s:2s:3s']) {
      const r = await runCli([...g(), 'config', 'watch', 'x/', '--wait', bad]);
      expect(r.code, bad).toBe(64);
      expect(oneLine(r)).toMatch(/^etcd-coord: --wait: /); // the option's own check, not "unknown option"
    }
  });

  it('--format env: a file sh can source back exactly; colliding keys: exit 78 naming both, nothing written', async () => {
    const file = join(dir, 'exact.env');
    const values: Record<string, string> = {
      'e/space': 'a b  c',
      'e/quote': "it's",
      'e/dollar': '$HOME $(id)',
      'e/tick': '`id`',
      'e/nl': 'one\ntwo',
    };
    for (const [k, v] of Object.entries(values)) await put(k, v);
    const watch = startCli([...g(), 'config', 'watch', 'e/', '--render', file, '--format', 'env']);
    await waitFor(async () => (await readFile(file, 'utf8')).includes('NL='), { timeoutMs: 30_000 });
    for (const [k, v] of Object.entries(values)) {
      const name = (k.split('/')[1] ?? '').toUpperCase();
      const r = await runSh(`. ${shq(file)}; printf %s "$${name}"`);
      expect(r.output, k).toBe(v);
    }
    watch.kill('SIGTERM');
    expect((await watch.exited).code).toBe(0);

    await put('c/db/url', 'a');
    await put('c/db_url', 'b');
    const clash = join(dir, 'clash.env');
    const r = await runCli([...g(), 'config', 'watch', 'c/', '--render', clash, '--format', 'env']);
    expect(r.code, r.stderr).toBe(78);
    expect(oneLine(r)).toMatch(/"db\/url" and "db_url".*DB_URL/);
    expect(existsSync(clash)).toBe(false);
  });
});
