import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect, type Coordinator } from '../../src/index.js';
import { spawnNode } from '../support/shared.js';
import { useSecureEtcd } from '../support/secure-etcd.js';

/** etcd's simple tokens: 16 random letters, a dot, a counter (etcd 3.4 `auth/simple_token.go`). */
const SIMPLE_TOKEN = /\b[A-Za-z]{16}\.\d+\b/;

/** Every way an error may end up in a log: message, stack, inspect with its cause chain, JSON. */
function renderings(err: unknown): string {
  const e = err as Error;
  return [
    String(err),
    e?.message,
    e?.stack,
    inspect(err, { depth: 20, showHidden: true }),
    JSON.stringify(err, err instanceof Error ? Object.getOwnPropertyNames(err) : undefined),
  ].join('\n');
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
}

/**
 * Acceptance 5: no secret (password, token, private key) in any error, log line, --help or JSON output
 * of the library or the CLI, with known passwords.
 */
describe('security: secrets never appear in output', () => {
  const secure = useSecureEtcd({ tls: true, auth: true, authTokenTtlSeconds: 2 });
  const WRONG = 'wrong-password-3d9a1f77';
  let output: string[] = [];
  const restore: Array<() => void> = [];

  beforeEach(() => {
    output = [];
    // Capture everything the library could print while it runs.
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write.bind(stream);
      stream.write = ((chunk: unknown, ...rest: unknown[]) => {
        output.push(String(chunk));
        return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
      restore.push(() => (stream.write = write));
    }
    for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      const original = console[level];
      console[level] = (...args: unknown[]) => {
        output.push(args.map((a) => (typeof a === 'string' ? a : inspect(a))).join(' '));
      };
      restore.push(() => (console[level] = original));
    }
  });
  afterEach(() => {
    for (const undo of restore.splice(0)) undo();
  });

  it('library: errors for a wrong password, denied keys and a revoked login carry no password or token', async () => {
    const { etcd } = secure;
    const secrets = [etcd.passwords.app1, WRONG, await etcd.pki.read(etcd.certs.app1.key)];
    const errors: unknown[] = [];
    errors.push(
      await failure(
        connect({ endpoints: [etcd.url], tls: etcd.tlsFor(), auth: { username: 'app1', password: WRONG } }),
      ),
    );
    const coord: Coordinator = await connect({
      endpoints: [etcd.url],
      tls: { ...etcd.tlsFor(), cert: etcd.certs.app1.cert, key: await etcd.pki.read(etcd.certs.app1.key) },
      auth: { username: 'app1', password: etcd.passwords.app1 },
      ttlSeconds: 2,
    });
    try {
      errors.push(await failure(coord.counter('app2/ids').increment()));
      errors.push(await failure(coord.mutex('app2/lock').lock({ timeoutMs: 3000 })));
      errors.push(await failure(coord.config('app2/cfg/')));
      errors.push(await failure(coord.election('app2/e').campaign('v', { timeoutMs: 3000 })));
      errors.push(
        await failure(
          (async () => {
            for await (const kv of coord.range('app2/')) void kv;
          })(),
        ),
      );
      errors.push(
        await failure(
          coord.watchHub.watch({ key: Buffer.from('app2/w') }, { onBatch: () => undefined }).ready,
        ),
      );
      // Someone logs the coordinator, however deep: no password, key or cached token.
      output.push(
        inspect(coord),
        inspect(coord, { depth: 30, showHidden: true }),
        JSON.stringify(Object.keys(coord)),
      );
      // Revoke the login: the re-authentication failures must not quote the password either.
      await etcd.admin().user('app1').setPassword(`${etcd.passwords.app1}-rotated`);
      secrets.push(`${etcd.passwords.app1}-rotated`);
      errors.push(await failure(coord.counter('app1/ids').increment()));
      errors.push(
        await failure(
          coord.watchHub.watch({ key: Buffer.from('app1/w') }, { onBatch: () => undefined }).ready,
        ),
      );
    } finally {
      await coord.close();
      await etcd.admin().user('app1').setPassword(etcd.passwords.app1);
    }
    expect(
      errors.every((e) => e instanceof Error && (e as { code?: string }).code === 'PERMISSION_DENIED'),
    ).toBe(true);
    const text = [...errors.map(renderings), ...output].join('\n');
    for (const secret of secrets) expect(text).not.toContain(secret.trim());
    expect(text).not.toMatch(SIMPLE_TOKEN);
    expect(text).not.toContain('PRIVATE KEY');
  });

  it('CLI: a failing run, --json, --debug and --help print no password or token', async () => {
    const { etcd } = secure;
    const tls = ['--cacert', etcd.pki.caFile];
    const runs: Array<{ args: string[]; env?: Record<string, string>; code?: number }> = [
      { args: ['status', '--endpoints', etcd.url, ...tls, '--user', 'app1', '--password', WRONG], code: 77 },
      { args: ['status', '--json', '--endpoints', etcd.url, ...tls, '--user', `app1:${WRONG}`], code: 77 },
      {
        args: ['counter', 'incr', 'app2/ids', '--debug', '--endpoints', etcd.url, ...tls],
        env: { ETCD_USER: 'app1', ETCD_PASSWORD: etcd.passwords.app1 },
        code: 77,
      },
      {
        args: ['counter', 'incr', 'app2/ids', '--json', '--endpoints', etcd.url, ...tls],
        env: { ETCD_USER: 'app1', ETCD_PASSWORD: etcd.passwords.app1 },
        code: 77,
      },
      {
        args: ['status', '--json', '--endpoints', etcd.url, ...tls],
        env: { ETCD_USER: 'app1', ETCD_PASSWORD: etcd.passwords.app1 },
        code: 0,
      },
      { args: ['--help'], env: { ETCD_USER: 'app1', ETCD_PASSWORD: etcd.passwords.app1 } },
      { args: ['counter', '--help'], env: { ETCD_PASSWORD: etcd.passwords.app1 } },
      // A bad option value next to a password: the usage error names the option only.
      { args: ['status', '--password', WRONG, '--dial-timeout', 'soon'], code: 64 },
    ];
    for (const run of runs) {
      const child = spawnNode('src/cli/main.ts', run.args, {
        env: { ETCD_ENDPOINTS: '', ...(run.env ?? {}) },
      });
      const exit = await child.exited;
      const all = [...child.output, child.stderr()].join('\n');
      if (run.code !== undefined) expect(exit.code, `${run.args.join(' ')}\n${all}`).toBe(run.code);
      expect(all.length, `output of ${run.args[0]}`).toBeGreaterThan(0);
      for (const secret of [WRONG, etcd.passwords.app1])
        expect(all, run.args.join(' ')).not.toContain(secret);
      expect(all).not.toMatch(SIMPLE_TOKEN);
    }
  });
});
