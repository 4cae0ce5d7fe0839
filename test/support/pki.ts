/**
 * A throwaway public-key infrastructure for TLS tests, made with the `openssl` binary in a temp dir:
 * a CA, a server certificate for 127.0.0.1/localhost, and client certificates whose CN is an etcd
 * user name (etcd's `--client-cert-auth` takes the user from the CN). Nothing here is a secret worth
 * keeping; the dir is removed by `remove()` or, at the latest, when the test process exits.
 *
 * @example
 * const pki = await createPki();
 * const server = await pki.issue('server', { server: true });
 * const app1 = await pki.issue('app1');
 * // app1.cert, app1.key, pki.caFile are file paths
 * await pki.remove();
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { forgetDir, trackDir } from './reaper.js';

const run = promisify(execFile);

/** A certificate and its private key, as file paths. */
export interface IssuedCert {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
}

/** A CA able to issue certificates. */
export interface Pki {
  readonly dir: string;
  /** The CA certificate (PEM file path): what clients and etcd trust. */
  readonly caFile: string;
  /**
   * Issues a certificate signed by this CA. `name` is the CN (for a client: the etcd user name).
   * `server: true` adds the SANs IP:127.0.0.1 and DNS:localhost and the serverAuth usage.
   */
  issue(name: string, opts?: { server?: boolean }): Promise<IssuedCert>;
  /** PEM text of a file this PKI wrote. */
  read(file: string): Promise<string>;
  remove(): Promise<void>;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed: ${stderr.trim()}`, { cause: err });
  }
}

/** P-256 keys: fast to generate, accepted by etcd (Go) and Node alike. */
const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Creates a CA in a fresh temp dir.
 *
 * @throws {Error} with openssl's stderr when `openssl` is missing or fails.
 */
export async function createPki(label = 'ca'): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-coord-pki-'));
  trackDir(dir);
  const caFile = join(dir, `${label}.crt`);
  const caKey = join(dir, `${label}.key`);
  await openssl(
    [
      'req',
      '-x509',
      ...KEY_ARGS,
      '-keyout',
      caKey,
      '-out',
      caFile,
      '-days',
      '2',
      '-subj',
      `/CN=etcd-coord test ${label}`,
    ],
    dir,
  );
  let serial = 1;
  return {
    dir,
    caFile,
    async issue(name, opts = {}) {
      if (!/^[A-Za-z0-9._-]+$/.test(name))
        throw new TypeError(`Expected a plain certificate name, got '${name}'`);
      const base = join(dir, `${label}-${name}`);
      const ext = `${base}.ext`;
      await writeFile(
        ext,
        opts.server === true
          ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n'
          : 'extendedKeyUsage=clientAuth\n',
      );
      await openssl(
        ['req', ...KEY_ARGS, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`],
        dir,
      );
      await openssl(
        [
          'x509',
          '-req',
          '-in',
          `${base}.csr`,
          '-CA',
          caFile,
          '-CAkey',
          caKey,
          '-set_serial',
          String(serial++),
          '-days',
          '2',
          '-extfile',
          ext,
          '-out',
          `${base}.crt`,
        ],
        dir,
      );
      return { name, cert: `${base}.crt`, key: `${base}.key` };
    },
    read: (file) => readFile(file, 'utf8'),
    async remove() {
      await rm(dir, { recursive: true, force: true });
      forgetDir(dir);
    },
  };
}
