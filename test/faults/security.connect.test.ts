import { describe, expect, it } from 'vitest';
import { connect, CoordError } from '../../src/index.js';
import { createPki } from '../support/pki.js';
import { spawnNode } from '../support/shared.js';
import { useSecureEtcd } from '../support/secure-etcd.js';

/** Acceptance 4 and the connection matrix: TLS, password auth, client-certificate (CN) auth. */
describe('security: connect over TLS with auth', () => {
  const secure = useSecureEtcd({ tls: true, clientCertAuth: true, auth: true });

  it('password auth over mutual TLS: the user works inside its prefix', async () => {
    const { etcd } = secure;
    const coord = await connect({
      endpoints: [etcd.url],
      namespace: 'app1/connect-pw/',
      tls: etcd.tlsFor('guest'), // a valid certificate whose CN is no etcd user: the password decides
      auth: { username: 'app1', password: etcd.passwords.app1 },
      ttlSeconds: 2,
    });
    try {
      expect(await coord.counter('c').increment()).toBe(1n);
    } finally {
      await coord.close();
    }
  });

  it('client-certificate auth: the CN is the user, no password anywhere', async () => {
    const { etcd } = secure;
    const coord = await connect({
      endpoints: [etcd.endpoint], // host:port; `tls` alone switches to TLS
      namespace: 'app1/connect-cn/',
      tls: {
        ca: await etcd.pki.read(etcd.pki.caFile), // PEM text works as well as a path
        cert: etcd.certs.app1.cert,
        key: etcd.certs.app1.key,
      },
      ttlSeconds: 2,
    });
    const bare = await connect({ endpoints: [etcd.url], tls: etcd.tlsFor('app1'), ttlSeconds: 2 });
    try {
      expect(await coord.counter('c').increment()).toBe(1n);
      // The CN user is app1: app2/ is out of bounds.
      const err = await bare
        .counter('app2/c')
        .increment()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect((err as CoordError).code).toBe('PERMISSION_DENIED');
    } finally {
      await Promise.all([coord.close(), bare.close()]);
    }
  });

  it('the CLI connects with --cacert/--cert/--key (CN auth) and with --user and ETCD_PASSWORD over TLS', async () => {
    const { etcd } = secure;
    const cn = spawnNode('src/cli/main.ts', [
      'counter',
      'incr',
      'app1/cli/ids',
      '--kind',
      'version',
      '--json',
      '--endpoints',
      etcd.url,
      '--cacert',
      etcd.pki.caFile,
      '--cert',
      etcd.certs.app1.cert,
      '--key',
      etcd.certs.app1.key,
    ]);
    expect((await cn.exited).code, cn.stderr()).toBe(0);
    expect(JSON.parse(cn.output.join(''))).toMatchObject({ value: '1' });
    const pw = spawnNode(
      'src/cli/main.ts',
      ['counter', 'incr', 'cli/ids', '--kind', 'version', '--namespace', 'app1/', '--dial-timeout', '1500ms'],
      {
        env: {
          ETCD_ENDPOINTS: etcd.url,
          ETCD_USER: 'app1',
          ETCD_PASSWORD: etcd.passwords.app1,
        },
      },
    );
    // Without --cacert the server certificate is not trusted: a clear UNAVAILABLE (69), not a hang.
    expect((await pw.exited).code, pw.stderr()).toBe(69);
    const ok = spawnNode(
      'src/cli/main.ts',
      [
        'counter',
        'incr',
        'cli/ids',
        '--kind',
        'version',
        '--namespace',
        'app1/',
        '--cacert',
        etcd.pki.caFile,
        '--cert',
        etcd.certs.guest.cert,
        '--key',
        etcd.certs.guest.key,
      ],
      { env: { ETCD_ENDPOINTS: etcd.url, ETCD_USER: 'app1', ETCD_PASSWORD: etcd.passwords.app1 } },
    );
    expect((await ok.exited).code, ok.stderr()).toBe(0);
    expect(ok.output.join('\n')).toContain('2');
  });

  it('wrong password: PERMISSION_DENIED at once, naming the failure, not the password', async () => {
    const { etcd } = secure;
    const loginsBefore = await etcd.grpcCalls('Authenticate');
    const err = await connect({
      endpoints: [etcd.url],
      tls: etcd.tlsFor('guest'),
      auth: { username: 'app1', password: 'not-the-password-7c1f' },
      dialTimeoutMs: 30_000,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CoordError);
    expect((err as CoordError).code).toBe('PERMISSION_DENIED');
    expect((err as Error).message).toMatch(/authentication failed/);
    expect((err as Error).message).not.toContain('not-the-password-7c1f');
    // Not retried until the (long) dial deadline: a wrong password does not fix itself. One login attempt.
    expect((await etcd.grpcCalls('Authenticate')) - loginsBefore).toBe(1);
  });

  it('a CA that did not sign the server certificate: UNAVAILABLE within the dial timeout, saying why', async () => {
    const { etcd } = secure;
    const other = await createPki('other-ca');
    try {
      const err = await connect({
        endpoints: [etcd.url],
        tls: { ca: other.caFile, cert: etcd.certs.app1.cert, key: etcd.certs.app1.key },
        dialTimeoutMs: 1500,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((err as CoordError).code).toBe('UNAVAILABLE');
      expect((err as Error).message).toMatch(/did not answer within 1500 ms.*certificate/);
    } finally {
      await other.remove();
    }
  });

  it('no client certificate where etcd requires one: UNAVAILABLE within the dial timeout', async () => {
    const { etcd } = secure;
    const err = await connect({
      endpoints: [etcd.url],
      tls: etcd.tlsFor(),
      auth: { username: 'app1', password: etcd.passwords.app1 },
      dialTimeoutMs: 1500,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as CoordError).code).toBe('UNAVAILABLE');
  });
});
