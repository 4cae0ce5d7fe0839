/**
 * Command-line parsing shared by every command: the global options (endpoints, namespace, credentials,
 * TLS, `--json`, `--dial-timeout`), durations (`500ms`, `30s`, `5m`, `1h`, `1d`, `1m30s`), the `--`
 * separator before a child command, and turning the globals into `connect()` options.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { protectNegatives, restorePositionals, unknownOptionMessage } from './arg-fixups.js';
import { UsageError } from './exit-codes.js';
import type { CliIo } from './io.js';
import type { ConnectOptions } from '../index.js';

type OptionsSpec = NonNullable<ParseArgsConfig['options']>;

/** Options every command accepts, before or after the command name. */
export const GLOBAL_OPTIONS = {
  endpoints: { type: 'string' },
  namespace: { type: 'string' },
  user: { type: 'string' },
  password: { type: 'string' },
  cacert: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  json: { type: 'boolean' },
  'dial-timeout': { type: 'string' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies OptionsSpec;

/** The global options' help text, shared by every command's `--help`. */
export const GLOBAL_HELP = `Global options:
  --endpoints <a,b>      etcd endpoints (host:port, comma-separated). Env: ETCD_ENDPOINTS, then
                         ETCDCTL_ENDPOINTS. Default 127.0.0.1:2379
  --namespace <prefix>   key prefix isolating this app, e.g. myapp/ (the trailing / is added if missing)
  --user <name[:pass]>   etcd user. Env: ETCD_USER. Without a password (--password, ETCD_PASSWORD or
                         name:pass) it is asked for on the terminal, never echoed
  --password <pass>      etcd password (prefer the env var: flags show up in ps). Env: ETCD_PASSWORD
  --cacert/--cert/--key  TLS: CA bundle, client certificate and key (PEM files)
  --dial-timeout <dur>   give up connecting after this long (exit 69). Default 5s
  --json                 machine-readable output: one JSON object per line
  --debug                print the error's cause chain on failure (credentials are redacted)
  -h, --help             this help`;

/** What a parsed command line holds. `values` are typed loosely; read them through the accessors. */
export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** The child command after `--`, or undefined when there is no `--`. */
  child: string[] | undefined;
  json: boolean;
  help: boolean;
}

/**
 * Parses `argv` (everything after the command name, global options included) strictly.
 *
 * A negative number is an option's value after a string option (`--priority -3`), else a positional
 * (`counter add c -3`).
 *
 * @throws UsageError for an unknown option (naming the closest known one), a missing option value, or a
 *   value given to a flag
 */
export function parseCommand(argv: readonly string[], options: OptionsSpec, command: string): Parsed {
  const split = argv.indexOf('--');
  const head = split === -1 ? [...argv] : argv.slice(0, split);
  const child = split === -1 ? undefined : argv.slice(split + 1);
  const spec = { ...GLOBAL_OPTIONS, ...options };
  const { args, negatives } = protectNegatives(head, spec);
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: spec, strict: true, allowPositionals: true }) as {
      values: Record<string, unknown>;
      positionals: string[];
    };
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    const unknown = /^Unknown option '([^']+)'/.exec(typeof e.message === 'string' ? e.message : '');
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown?.[1] !== undefined)
      throw new UsageError(unknownOptionMessage(unknown[1], spec), command);
    // parseArgs names the option, never echoes its value: safe to print even for --password.
    throw new UsageError(err instanceof Error ? err.message : String(err), command);
  }
  const values = parsed.values as Parsed['values'];
  return {
    values,
    positionals: restorePositionals(parsed.positionals, negatives),
    child,
    json: values.json === true,
    help: values.help === true,
  };
}

/** A string option's value, or undefined. */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A boolean option. */
export function flag(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

/** A repeatable string option's values. */
export function list(p: Parsed, name: string): string[] {
  const v = p.values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/**
 * Exactly `names.length` positionals (at least `min` of them), in order.
 *
 * @throws UsageError naming the first missing argument, or the first extra one
 */
export function positionals(
  p: Parsed,
  names: readonly string[],
  command: string,
  min = names.length,
): string[] {
  if (p.positionals.length < min)
    throw new UsageError(`missing <${names[p.positionals.length] ?? 'argument'}>`, command);
  if (p.positionals.length > names.length) {
    throw new UsageError(`unexpected argument "${p.positionals[names.length] ?? ''}"`, command);
  }
  return p.positionals;
}

/**
 * The child command after `--`.
 *
 * @throws UsageError when there is none
 */
export function requireChild(p: Parsed, command: string): string[] {
  if (p.child === undefined || p.child.length === 0)
    throw new UsageError('missing the command to run after "--"', command);
  return p.child;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration in milliseconds from `500ms`, `30s`, `5m`, `1h`, `1d`, `1h30m`, or a bare number of seconds.
 *
 * @throws UsageError naming the option for anything else
 */
export function parseDuration(text: string, option: string, command: string): number {
  const bare = /^\d+(?:\.\d+)?$/.test(text);
  if (bare) return Math.round(Number(text) * 1000);
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((m) => m[0]).join('') !== text) {
    throw new UsageError(
      `--${option}: expected a duration like 500ms, 30s, 5m or 1h, got "${text}"`,
      command,
    );
  }
  return Math.round(parts.reduce((sum, m) => sum + Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0), 0));
}

/** An optional duration option, in ms. */
export function durationOption(p: Parsed, name: string, command: string): number | undefined {
  const text = str(p, name);
  return text === undefined ? undefined : parseDuration(text, name, command);
}

/**
 * An integer option within bounds.
 *
 * @throws UsageError when it is not an integer in [min, max]
 */
export function intOption(
  p: Parsed,
  name: string,
  command: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const text = str(p, name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^-?\d+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `--${name}: expected an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`}, got "${text}"`,
      command,
    );
  }
  return n;
}

/** Options from {@link connectOptions} with a user but no password: prompted for when stdin is a terminal. */
export const passwordToPrompt = new WeakSet<ConnectOptions>();

/**
 * `connect()` options from the global options and the environment. Passwords are added to `io.secrets`
 * so that no message can print them.
 *
 * @throws UsageError for a bad `--dial-timeout`, or a password without a user
 */
export function connectOptions(
  p: Parsed,
  io: CliIo,
  command: string,
  extra: { ttlSeconds?: number } = {},
): ConnectOptions {
  const opts: ConnectOptions = {};
  const endpoints = str(p, 'endpoints') ?? (io.env.ETCD_ENDPOINTS || io.env.ETCDCTL_ENDPOINTS || undefined);
  if (endpoints !== undefined)
    opts.endpoints = endpoints
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '');
  const namespace = str(p, 'namespace');
  if (namespace !== undefined && namespace !== '') opts.namespace = namespace;
  let user = str(p, 'user') ?? (io.env.ETCD_USER || undefined);
  let password = str(p, 'password') ?? (io.env.ETCD_PASSWORD || undefined);
  if (user !== undefined && user.includes(':') && password === undefined) {
    // etcdctl's `--user name:password` form.
    const at = user.indexOf(':');
    password = user.slice(at + 1);
    user = user.slice(0, at);
  }
  if (password !== undefined) io.secrets.add(password);
  if (password !== undefined && user === undefined)
    throw new UsageError('a password was given without --user (or ETCD_USER)', command);
  if (user !== undefined) opts.auth = { username: user, password: password ?? '' };
  // A user without a password: `withCoordinator` asks for it on a terminal (as etcdctl does).
  if (user !== undefined && password === undefined) passwordToPrompt.add(opts);
  const ca = str(p, 'cacert');
  const cert = str(p, 'cert');
  const key = str(p, 'key');
  if (ca !== undefined || cert !== undefined || key !== undefined) {
    opts.tls = {
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
    };
  }
  const dial = durationOption(p, 'dial-timeout', command);
  if (dial !== undefined) {
    if (dial < 1) throw new UsageError('--dial-timeout: expected at least 1ms', command);
    opts.dialTimeoutMs = dial;
  }
  if (extra.ttlSeconds !== undefined) opts.ttlSeconds = extra.ttlSeconds;
  return opts;
}

/** `--ttl` in seconds (integer ≥ 2). */
export function ttlOption(p: Parsed, command: string): number | undefined {
  return intOption(p, 'ttl', command, 2, 9_000_000_000);
}
