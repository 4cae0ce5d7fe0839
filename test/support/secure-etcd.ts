/**
 * A private single-member etcd with the security features of a production cluster switched on, for
 * the security tests: TLS on the client port (a throwaway CA from {@link createPki}), optionally
 * client-certificate authentication (`--client-cert-auth`: the CN is the user), and authentication
 * with RBAC and a short simple-token TTL.
 *
 * Users when `auth` is on (passwords random per run, in {@link SecureEtcd.passwords}):
 * - `root` (role `root`): everything;
 * - `app1`, `app2`: roles `app1-rw` / `app2-rw`, read-write on the prefix `app1/` / `app2/` only.
 *
 * The member also listens on a plain-HTTP loopback port (`insecureEndpoint`): the harness's own
 * readiness probe speaks plain gRPC, and it is how users and roles are set up before `auth enable`.
 * Tests talk to `endpoint` (TLS when `tls` is on).
 *
 * @example
 * const etcd = await startSecureEtcd({ tls: true, auth: true, authTokenTtlSeconds: 2 });
 * const coord = await connect({ endpoints: [etcd.url], namespace: 'app1/', tls: etcd.tlsFor('guest'),
 *   auth: { username: 'app1', password: etcd.passwords.app1 } });
 * await etcd.stop();
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3, Range } from 'etcd3';
import { afterAll, beforeAll } from 'vitest';
import { etcdBinary, EtcdUnavailableError } from './etcd.js';
import { BinaryMember, MemberStartError } from './etcd-member.js';
import { freePorts } from './probe.js';
import { createPki, type IssuedCert, type Pki } from './pki.js';
import { forgetDir, trackDir } from './reaper.js';

/** Options of {@link startSecureEtcd}. */
export interface SecureEtcdOptions {
  /** Serve clients over TLS. Default true. */
  tls?: boolean;
  /** Require a client certificate signed by the test CA; with `auth`, its CN is the user. Default false. */
  clientCertAuth?: boolean;
  /** Create root/app1/app2 users and roles, then `auth enable`. Default true. */
  auth?: boolean;
  /** Token TTL: `--auth-token-ttl` for simple tokens, the `ttl=` option for JWT. Default etcd's 300 s. */
  authTokenTtlSeconds?: number;
  /** `--auth-token`: etcd's default 'simple', or 'jwt' (RS256, with a key pair generated for the run). */
  authToken?: 'simple' | 'jwt';
}

/** TLS material for a client, as file paths (what `connect({ tls })` and `--cacert/--cert/--key` take). */
export interface ClientTls {
  ca: string;
  cert?: string;
  key?: string;
}

/** A running secure etcd. */
export interface SecureEtcd {
  /** 'host:port' of the client port (TLS when `tls`). */
  readonly endpoint: string;
  /** `endpoint` with its scheme: 'https://127.0.0.1:PORT' (or http:// without TLS). */
  readonly url: string;
  /** Plain-HTTP client port for the harness; refuses data requests once auth is on, without a user. */
  readonly insecureEndpoint: string;
  readonly member: BinaryMember;
  readonly pki: Pki;
  /** Client certificates by CN: 'root', 'app1', 'app2', 'guest' (no such etcd user). */
  readonly certs: Readonly<Record<'root' | 'app1' | 'app2' | 'guest', IssuedCert>>;
  readonly passwords: Readonly<{ root: string; app1: string; app2: string }>;
  /** TLS options for a client presenting the certificate of `cn` (or none). */
  tlsFor(cn?: 'root' | 'app1' | 'app2' | 'guest'): ClientTls;
  /**
   * A new etcd3 client logged in as root on `url` (closed by stop()). New each time: etcd3 does not renew
   * a JWT token made "old" by an RBAC change, so a client that changed users or roles may not be reused.
   */
  admin(): Etcd3;
  /**
   * How many gRPC calls of `method` (e.g. 'Authenticate', 'Range', 'Watch') the server has handled so far,
   * any outcome, from its Prometheus metrics (served without auth on the plain port): lets a test bound
   * re-authentication without instrumenting the client.
   */
  grpcCalls(method: string): Promise<number>;
  stop(): Promise<void>;
}

const START_ATTEMPTS = 3;

/**
 * Starts a secure single-member etcd from the binary.
 *
 * @throws {EtcdUnavailableError} when there is no etcd binary (the Docker path has no TLS setup).
 */
export async function startSecureEtcd(opts: SecureEtcdOptions = {}): Promise<SecureEtcd> {
  const bin = etcdBinary();
  if (bin === undefined) throw new EtcdUnavailableError('The security tests need the etcd binary.');
  const pki = await createPki();
  try {
    const certs = {
      server: await pki.issue('server', { server: true }),
      root: await pki.issue('root'),
      app1: await pki.issue('app1'),
      app2: await pki.issue('app2'),
      guest: await pki.issue('guest'),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce(bin, pki, certs, opts);
      } catch (err) {
        if (!(err instanceof MemberStartError && err.portInUse && attempt < START_ATTEMPTS)) throw err;
      }
    }
  } catch (err) {
    await pki.remove();
    throw err;
  }
}

async function startOnce(
  bin: string,
  pki: Pki,
  certs: Record<'server' | 'root' | 'app1' | 'app2' | 'guest', IssuedCert>,
  opts: SecureEtcdOptions,
): Promise<SecureEtcd> {
  const tls = opts.tls ?? true;
  const auth = opts.auth ?? true;
  const root = await mkdtemp(join(tmpdir(), 'etcd-coord-secure-'));
  trackDir(root);
  const [plainPort, securePort, peerPort] = (await freePorts(3)) as [number, number, number];
  const insecureEndpoint = `127.0.0.1:${plainPort}`;
  const endpoint = tls ? `127.0.0.1:${securePort}` : insecureEndpoint;
  const url = `${tls ? 'https' : 'http'}://${endpoint}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const ttl = opts.authTokenTtlSeconds;
  let tokenArgs = ['--auth-token=simple', ...(ttl === undefined ? [] : [`--auth-token-ttl=${ttl}`])];
  if (opts.authToken === 'jwt') {
    const priv = join(root, 'jwt.key');
    const pub = join(root, 'jwt.pub');
    await promisify(execFile)('openssl', ['genrsa', '-out', priv, '2048']);
    await promisify(execFile)('openssl', ['rsa', '-in', priv, '-pubout', '-out', pub]);
    tokenArgs = [
      `--auth-token=jwt,pub-key=${pub},priv-key=${priv},sign-method=RS256${ttl === undefined ? '' : `,ttl=${ttl}s`}`,
    ];
  }
  const clientUrls = tls ? `http://${insecureEndpoint},${url}` : `http://${insecureEndpoint}`;
  const member = new BinaryMember({
    bin,
    name: 'm0',
    endpoint: insecureEndpoint,
    peerUrl,
    dataDir: join(root, 'data'),
    logFile: join(root, 'etcd.log'),
    args: [
      '--name=m0',
      `--data-dir=${join(root, 'data')}`,
      `--listen-client-urls=${clientUrls}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=m0=${peerUrl}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=etcd-coord-secure-${randomBytes(6).toString('hex')}`,
      '--heartbeat-interval=50',
      '--election-timeout=500',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=error',
      ...(tls ? [`--cert-file=${certs.server.cert}`, `--key-file=${certs.server.key}`] : []),
      // etcd 3.4 asks every TLS client for a certificate once it has a trusted CA: only with client-cert auth.
      ...(tls && opts.clientCertAuth === true
        ? [`--trusted-ca-file=${pki.caFile}`, '--client-cert-auth=true']
        : []),
      ...tokenArgs,
    ],
  });
  const passwords = {
    root: `root-${randomBytes(12).toString('hex')}`,
    app1: `app1-${randomBytes(12).toString('hex')}`,
    app2: `app2-${randomBytes(12).toString('hex')}`,
  };
  const clients = new Set<Etcd3>();
  const teardown = async (): Promise<void> => {
    for (const c of clients) c.close();
    clients.clear();
    await member.kill();
    await rm(root, { recursive: true, force: true });
    forgetDir(root);
  };
  try {
    member.spawn();
    await member.waitServing();
    if (auth) await enableAuth(insecureEndpoint, passwords);
  } catch (err) {
    await teardown();
    throw err;
  }
  const tlsFor = (cn?: 'root' | 'app1' | 'app2' | 'guest'): ClientTls => ({
    ca: pki.caFile,
    ...(cn === undefined ? {} : { cert: certs[cn].cert, key: certs[cn].key }),
  });
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    url,
    insecureEndpoint,
    member,
    pki,
    certs,
    passwords,
    tlsFor,
    admin() {
      const material = tlsFor('root');
      const admin = new Etcd3({
        hosts: [url],
        ...(auth ? { auth: { username: 'root', password: passwords.root } } : {}),
        ...(tls
          ? {
              credentials: {
                rootCertificate: readFileSync(material.ca),
                privateKey: readFileSync(material.key as string),
                certChain: readFileSync(material.cert as string),
              },
            }
          : {}),
        grpcOptions: { 'grpc.use_local_subchannel_pool': 1 },
      });
      clients.add(admin);
      return admin;
    },
    async grpcCalls(method) {
      const res = await fetch(`http://${insecureEndpoint}/metrics`);
      const text = await res.text();
      let total = 0;
      for (const line of text.split('\n')) {
        if (line.startsWith('grpc_server_handled_total{') && line.includes(`grpc_method="${method}"`)) {
          total += Number(line.slice(line.lastIndexOf(' ') + 1));
        }
      }
      return total;
    },
    stop() {
      stopping ??= (async () => {
        await teardown();
        await pki.remove();
      })();
      return stopping;
    },
  };
}

/** Users, roles and `auth enable`, over the plain port before anyone needs a token. */
async function enableAuth(
  endpoint: string,
  passwords: { root: string; app1: string; app2: string },
): Promise<void> {
  const client = new Etcd3({ hosts: [endpoint], grpcOptions: { 'grpc.use_local_subchannel_pool': 1 } });
  try {
    await client.role('root').create();
    await client.user('root').create(passwords.root);
    await client.user('root').addRole('root');
    for (const app of ['app1', 'app2'] as const) {
      await client.role(`${app}-rw`).create();
      await client.role(`${app}-rw`).grant({ permission: 'Readwrite', range: Range.prefix(`${app}/`) });
      await client.user(app).create(passwords[app]);
      await client.user(app).addRole(`${app}-rw`);
    }
    await client.auth.authEnable();
  } finally {
    client.close();
  }
}

/** Starts a secure etcd in `beforeAll` and stops it in `afterAll` (see {@link startSecureEtcd}). */
export function useSecureEtcd(opts: SecureEtcdOptions = {}): { readonly etcd: SecureEtcd } {
  let etcd: SecureEtcd | undefined;
  beforeAll(async () => {
    etcd = await startSecureEtcd(opts);
  });
  afterAll(async () => {
    await etcd?.stop();
    etcd = undefined;
  });
  return {
    get etcd(): SecureEtcd {
      if (etcd === undefined) throw new Error('useSecureEtcd: etcd exists only inside the suite');
      return etcd;
    },
  };
}
