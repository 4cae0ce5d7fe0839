import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions } from 'etcd3';
import { AbortedError, InvalidArgumentError, UnavailableError } from './errors.js';
import { withDeadline, abortError } from './deadline.js';
import { EndpointHealth } from './endpoints.js';
import { assertEndpoint, assertInteger, assertName, assertTtlSeconds } from './validate.js';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** `host:port` or `http(s)://host:port`. Default: `ETCD_ENDPOINTS`, then `ETCDCTL_ENDPOINTS` (comma-separated), then `127.0.0.1:2379`. */
  endpoints?: string[];
  /**
   * Key prefix isolating this app, e.g. `'myapp/'`. Every recipe's keys live under it. A trailing `/` is
   * added when missing (`'myapp'` is `'myapp/'`), so `myapp` and `myapp2` never share keys.
   */
  namespace?: string;
  /** TTL of the default session's lease, in seconds (integer ≥ 2). Default 10. */
  ttlSeconds?: number;
  /**
   * User name and password (etcd's `--auth-token` tokens are fetched, cached and refreshed on expiry,
   * streams included). Omit with a client certificate: etcd then takes the user from its CN. The
   * password never appears in an error message or log line.
   */
  auth?: {
    /** The etcd user. */
    username: string;
    /** Its password (never printed). */
    password: string;
  };
  /**
   * TLS material, each PEM text, bytes, or a file path. Giving `tls` switches the connection to TLS
   * (so do `https://` endpoints). `ca`: the CA to trust (default: the system's roots); `cert` + `key`
   * (both or neither): a client certificate, for etcd's `--client-cert-auth`.
   */
  tls?: {
    /** CA bundle that signed etcd's server certificate (default: the system's roots). */
    ca?: Buffer | string;
    /** Client certificate, for `--client-cert-auth`. */
    cert?: Buffer | string;
    /** The client certificate's private key. */
    key?: Buffer | string;
  };
  /** Bring your own configured client. It is not closed by `coord.close()`. */
  client?: Etcd3;
  /** How long `connect()` may take before failing with `UNAVAILABLE`. Default 5000. */
  dialTimeoutMs?: number;
  /** Deadline of each single request to etcd. Default 5000. */
  requestTimeoutMs?: number;
  /** Cancels `connect()`. */
  signal?: AbortSignal;
}

/** Options after defaults and validation. */
export interface ResolvedOptions {
  endpoints: string[];
  namespace: string;
  ttlSeconds: number;
  dialTimeoutMs: number;
  requestTimeoutMs: number;
}

/** Every key `ConnectOptions` has: anything else is a mistake (a typo, another client's option name). */
const KNOWN: ReadonlySet<string> = new Set<keyof ConnectOptions>([
  'endpoints',
  'namespace',
  'ttlSeconds',
  'auth',
  'tls',
  'client',
  'dialTimeoutMs',
  'requestTimeoutMs',
  'signal',
]);

/** Names users bring from etcd3, etcdctl or other clients, and what they are called here. */
const ALIASES: Readonly<Record<string, keyof ConnectOptions>> = {
  hosts: 'endpoints',
  endpoint: 'endpoints',
  prefix: 'namespace',
  ttl: 'ttlSeconds',
  credentials: 'auth',
  dialTimeout: 'dialTimeoutMs',
  timeout: 'requestTimeoutMs',
  requestTimeout: 'requestTimeoutMs',
};

/**
 * Rejects an option `ConnectOptions` does not have (`{ ttl: 5 }` would otherwise be ignored silently),
 * naming it and, when it looks like one, the option meant.
 *
 * @throws InvalidArgumentError `Unknown connect() option \`ttl\` (did you mean \`ttlSeconds\`?)`
 */
function assertKnownOptions(opts: object): void {
  for (const key of Object.keys(opts)) {
    if (KNOWN.has(key)) continue;
    const lower = key.toLowerCase();
    const meant =
      (Object.hasOwn(ALIASES, key) ? ALIASES[key] : undefined) ??
      [...KNOWN].find((k) => k.toLowerCase() === lower || k.toLowerCase().startsWith(lower));
    const hint = meant === undefined ? '' : ` (did you mean \`${meant}\`?)`;
    throw new InvalidArgumentError(
      `Unknown connect() option \`${key}\`${hint}; the options are ${[...KNOWN].join(', ')}`,
    );
  }
}

/**
 * A namespace is a key prefix ending in `/`: `'app1'` means `'app1/'`, so that `app1` and `app10` never
 * share keys (a bare `'app1'` used to give keys like `app1nsx/…`). `''` is no namespace.
 *
 * @example
 * ```ts
 * normaliseNamespace('app1'); // 'app1/'
 * ```
 */
export function normaliseNamespace(namespace: string): string {
  return namespace === '' || namespace.endsWith('/') ? namespace : `${namespace}/`;
}

/**
 * Validates options before anything touches the network; every error names its argument. Unknown
 * options are refused; a namespace without a trailing `/` gets one ({@link normaliseNamespace}).
 */
export function resolveOptions(opts: ConnectOptions, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  if (typeof opts !== 'object' || opts === null) {
    throw new TypeError('Expected the connect() options to be an object');
  }
  assertKnownOptions(opts);
  const fromEnv = env.ETCD_ENDPOINTS || env.ETCDCTL_ENDPOINTS;
  const raw = opts.endpoints ?? (fromEnv ? fromEnv.split(',') : ['127.0.0.1:2379']);
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new TypeError('Expected `endpoints` to be a non-empty array of "host:port" strings');
  }
  const endpoints = raw.map((e) => assertEndpoint(e, 'endpoints'));
  const given = opts.namespace ?? '';
  if (given !== '') assertName(given, 'namespace');
  const namespace = normaliseNamespace(given);
  const ttlSeconds = opts.ttlSeconds ?? 10;
  assertTtlSeconds(ttlSeconds, 'ttlSeconds');
  const dialTimeoutMs = opts.dialTimeoutMs ?? 5000;
  assertInteger(dialTimeoutMs, 'dialTimeoutMs', 1);
  const requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
  assertInteger(requestTimeoutMs, 'requestTimeoutMs', 1);
  if (
    opts.auth &&
    (typeof opts.auth.username !== 'string' ||
      opts.auth.username === '' ||
      typeof opts.auth.password !== 'string')
  ) {
    throw new TypeError('Expected `auth` to be { username: string (non-empty), password: string }');
  }
  if (opts.tls !== undefined) {
    if (typeof opts.tls !== 'object' || opts.tls === null) {
      throw new TypeError('Expected `tls` to be an object { ca?, cert?, key? }');
    }
    if ((opts.tls.cert === undefined) !== (opts.tls.key === undefined)) {
      throw new TypeError('Expected `tls.cert` and `tls.key` together (a client certificate needs its key)');
    }
  }
  return { endpoints, namespace, ttlSeconds, dialTimeoutMs, requestTimeoutMs };
}

function pem(value: Buffer | string | undefined, name: string): Buffer | undefined {
  if (value === undefined || Buffer.isBuffer(value)) return value;
  if (typeof value !== 'string')
    throw new TypeError(`Expected \`${name}\` to be PEM text, bytes or a file path`);
  if (value.includes('-----BEGIN')) return Buffer.from(value);
  try {
    return readFileSync(value);
  } catch (err) {
    // The message names the path, never the content: only text without a PEM header is taken as a path.
    throw new TypeError(
      `Expected \`${name}\` to be PEM text, bytes or a readable file: cannot read ${JSON.stringify(value)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

/**
 * Adds `name` as a non-enumerable getter: etcd3 keeps its options object for its lifetime, and a deep
 * `util.inspect(coord)` or `JSON.stringify` would otherwise print the password or private key from it.
 */
function withHidden<T extends object, K extends string, V>(target: T, name: K, value: V): T & Record<K, V> {
  return Object.defineProperty(target, name, { get: () => value, enumerable: false }) as T & Record<K, V>;
}

export function createClient(opts: ConnectOptions, resolved: ResolvedOptions): Etcd3 {
  const tls = opts.tls;
  const secure = tls !== undefined;
  const hosts = resolved.endpoints.map((e) =>
    /^https?:\/\//.test(e) ? e : `${secure ? 'https' : 'http'}://${e}`,
  );
  const health = new EndpointHealth(hosts.length);
  const options: IOptions = {
    hosts,
    ...(opts.auth
      ? { auth: withHidden({ username: opts.auth.username }, 'password', opts.auth.password) }
      : {}),
    grpcOptions: {
      // Notice a dead connection (a blackhole keeps TCP open) instead of waiting on it for ever. etcd's
      // default enforcement policy allows pings every 5 s while streams are open.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
    },
    faultHandling: health.faultHandling() as never,
  };
  if (tls) {
    const ca = pem(tls.ca, 'tls.ca');
    const key = pem(tls.key, 'tls.key');
    const cert = pem(tls.cert, 'tls.cert');
    const credentials = {
      // null = the system's roots (grpc-js `createSsl`); an empty buffer would trust no CA at all.
      rootCertificate: ca ?? (null as unknown as Buffer),
      ...(cert ? { certChain: cert } : {}),
    };
    options.credentials = key ? withHidden(credentials, 'privateKey', key) : credentials;
  }
  const client = new Etcd3(options);
  health.attach(client);
  return client;
}

/**
 * The innermost cause's message (e.g. gRPC's "certificate verify failed" behind an UNAVAILABLE), so a TLS
 * misconfiguration reads as one instead of as a slow server. gRPC and etcd messages carry no credentials.
 */
function lastReason(err: unknown): string {
  let e = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error && e !== err ? ` (last error: ${e.message})` : '';
}

/**
 * Runs `attempt` until it succeeds or the dial deadline passes, for the first contact with etcd.
 *
 * @throws UnavailableError naming the endpoints when the deadline passes
 */
export async function dial<T>(
  resolved: ResolvedOptions,
  signal: AbortSignal | undefined,
  attempt: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const deadline = withDeadline(signal, resolved.dialTimeoutMs);
  let last: unknown;
  try {
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      try {
        return await attempt(deadline.signal);
      } catch (err) {
        // The attempt cut short by the deadline says less than the failure before it (e.g. a TLS error),
        // whether it reports the cut as an abort or as "etcd did not answer in time".
        if (!(deadline.signal.aborted && last !== undefined)) last = err;
        if (!(err instanceof UnavailableError) && !(err instanceof AbortedError)) throw err;
      }
      if (deadline.signal.aborted) break;
      await new Promise((r) => setTimeout(r, Math.min(delay, deadline.remaining() ?? delay)));
      if (deadline.signal.aborted) break;
    }
    if (signal?.aborted) throw abortError(signal, 'connect');
    throw new UnavailableError(
      `connect: etcd at ${resolved.endpoints.join(',')} did not answer within ${resolved.dialTimeoutMs} ms${lastReason(last)}`,
      { cause: last },
    );
  } finally {
    deadline.dispose();
  }
}
