import { describe, expect, it } from 'vitest';
import { useSecureEtcd } from '../support/secure-etcd.js';
import { join } from 'node:path';
import { cliArgv, runCli, runSh, shq, useCli } from './cli-helper.js';

const PTY_TYPE = join(import.meta.dirname, 'pty-type.py');

describe('etcd-coord against a TLS etcd with authentication', { timeout: 120_000 }, () => {
  useCli();
  const secure = useSecureEtcd({ tls: true, auth: true });
  const tls = (): string[] => ['--endpoints', secure.etcd.url, '--cacert', secure.etcd.tlsFor().ca];

  it('works with --cacert and ETCD_USER/ETCD_PASSWORD; status shows the user, never the password', async () => {
    const env = { ETCD_USER: 'app1', ETCD_PASSWORD: secure.etcd.passwords.app1 };
    const incr = await runCli([...tls(), '--namespace', 'app1/', 'counter', 'incr', 'hits'], env);
    expect(incr.code, incr.stderr).toBe(0);
    expect(incr.stdout).toEqual(['1']);
    const status = await runCli([...tls(), '--namespace', 'app1/', 'status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout[0] ?? '{}')).toMatchObject({ auth: 'user', user: 'app1', tls: true });
    expect(status.stdout.join('\n') + status.stderr).not.toContain(secure.etcd.passwords.app1);
  });

  it('exit 77 outside the role, and for a wrong password; the password is never printed', async () => {
    const denied = await runCli([...tls(), '--namespace', 'app2/', 'counter', 'incr', 'hits'], {
      ETCD_USER: 'app1',
      ETCD_PASSWORD: secure.etcd.passwords.app1,
    });
    expect(denied.code, denied.stderr).toBe(77);
    expect(denied.stderr.trim().split('\n'), denied.stderr).toHaveLength(1);
    const wrong = `${secure.etcd.passwords.app1}-wrong`;
    const bad = await runCli([...tls(), '--namespace', 'app1/', '--debug', 'counter', 'get', 'hits'], {
      ETCD_USER: 'app1',
      ETCD_PASSWORD: wrong,
    });
    expect(bad.code, bad.stderr).toBe(77);
    expect(bad.stdout.join('\n') + bad.stderr).not.toContain(wrong);
    expect(denied.stdout.join('\n') + denied.stderr).not.toContain(secure.etcd.passwords.app1);
  });

  it('--user without a password on a terminal: prompts on it, never echoes what is typed, and uses it', async () => {
    const password = secure.etcd.passwords.app1;
    const argv = [
      ...cliArgv(),
      ...tls(),
      '--namespace',
      'app1/',
      '--user',
      'app1',
      'counter',
      'incr',
      'typed',
    ];
    const r = await runSh(`python3 ${shq(PTY_TYPE)} ${shq(password)} ${argv.map(shq).join(' ')}`);
    expect(r.output).toMatch(/Password for app1: /);
    expect(r.output).not.toContain(password);
    expect(r.output, r.output).toMatch(/^1\r?$/m);
    expect(r.output).toMatch(/exit 0\s*$/);
  });
});
