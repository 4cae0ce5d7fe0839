import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions } from 'etcd3';
import { AbortedError, UnavailableError } from './errors.js';
import { withDeadline, abortError } from './deadline.js';
import { assertEndpoint, assertInteger, assertName, assertTtlSeconds } from './validate.js';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** `host:port` or `http(s)://host:port`. Default: `ETCD_ENDPOINTS`, then `ETCDCTL_ENDPOINTS` (comma-separated), then `127.0.0.1:2379`. */
  endpoints?: string[];
  /** Key prefix isolating this app, e.g. `'myapp/'`. Every recipe's keys live under it. */
  namespace?: string;
  /** TTL of the default session's lease, in seconds (integer ≥ 2). Default 10. */
  ttlSeconds?: number;
  auth?: { username: string; password: string };
  /** TLS material (PEM text, bytes, or a file path). Giving `tls` switches the connection to TLS. */
  tls?: { ca?: Buffer | string; cert?: Buffer | string; key?: Buffer | string };
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

/** Validates options before anything touches the network; every error names its argument. */
export function resolveOptions(opts: ConnectOptions, env: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  const fromEnv = env.ETCD_ENDPOINTS || env.ETCDCTL_ENDPOINTS;
  const raw = opts.endpoints ?? (fromEnv ? fromEnv.split(',') : ['127.0.0.1:2379']);
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new TypeError('Expected `endpoints` to be a non-empty array of "host:port" strings');
  }
  const endpoints = raw.map((e) => assertEndpoint(e, 'endpoints'));
  const namespace = opts.namespace ?? '';
  if (namespace !== '') assertName(namespace, 'namespace');
  const ttlSeconds = opts.ttlSeconds ?? 10;
  assertTtlSeconds(ttlSeconds, 'ttlSeconds');
  const dialTimeoutMs = opts.dialTimeoutMs ?? 5000;
  assertInteger(dialTimeoutMs, 'dialTimeoutMs', 1);
  const requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
  assertInteger(requestTimeoutMs, 'requestTimeoutMs', 1);
  if (opts.auth && (typeof opts.auth.username !== 'string' || typeof opts.auth.password !== 'string')) {
    throw new TypeError('Expected `auth` to be { username: string, password: string }');
  }
  return { endpoints, namespace, ttlSeconds, dialTimeoutMs, requestTimeoutMs };
}

function pem(value: Buffer | string | undefined): Buffer | undefined {
  if (value === undefined || Buffer.isBuffer(value)) return value;
  return value.includes('-----BEGIN') ? Buffer.from(value) : readFileSync(value);
}

/**
 * A fault-handling policy that runs the call once: retries are ours to decide, per operation. Always
 * async: etcd3 calls it from stream error handlers and expects a promise, never a synchronous throw.
 */
const runOnce = {
  execute: async <T>(fn: (ctx: unknown) => T | Promise<T>) => fn({ signal: new AbortController().signal }),
};

/**
 * Builds the etcd3 client. Its own retry and circuit-breaker policies are switched off: a silently
 * retried write can apply twice (a double increment), and a breaker keeps a recovered member "down".
 */
export function createClient(opts: ConnectOptions, resolved: ResolvedOptions): Etcd3 {
  const tls = opts.tls;
  const secure = tls !== undefined;
  const hosts = resolved.endpoints.map((e) =>
    /^https?:\/\//.test(e) ? e : `${secure ? 'https' : 'http'}://${e}`,
  );
  const options: IOptions = {
    hosts,
    ...(opts.auth ? { auth: { username: opts.auth.username, password: opts.auth.password } } : {}),
    grpcOptions: {
      // Notice a dead connection (a blackhole keeps TCP open) instead of waiting on it for ever. etcd's
      // default enforcement policy allows pings every 5 s while streams are open.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 0,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
    },
    faultHandling: {
      host: () => runOnce as never,
      global: runOnce as never,
    },
  };
  if (tls) {
    const ca = pem(tls.ca);
    const key = pem(tls.key);
    const cert = pem(tls.cert);
    options.credentials = {
      rootCertificate: ca ?? Buffer.alloc(0),
      ...(key ? { privateKey: key } : {}),
      ...(cert ? { certChain: cert } : {}),
    };
  }
  return new Etcd3(options);
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
        last = err;
        if (!(err instanceof UnavailableError) && !(err instanceof AbortedError)) throw err;
      }
      if (deadline.signal.aborted) break;
      await new Promise((r) => setTimeout(r, Math.min(delay, deadline.remaining() ?? delay)));
      if (deadline.signal.aborted) break;
    }
    if (signal?.aborted) throw abortError(signal, 'connect');
    throw new UnavailableError(
      `connect: etcd at ${resolved.endpoints.join(',')} did not answer within ${resolved.dialTimeoutMs} ms`,
      { cause: last },
    );
  } finally {
    deadline.dispose();
  }
}
