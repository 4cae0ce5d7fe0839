import { InvalidArgumentError } from './errors.js';

/** etcd's default `--max-request-bytes` (1.5 MiB). A request larger than this is refused by the server. */
export const MAX_REQUEST_BYTES = 1_572_864;
/** Room left in a request for the key, the lease, the txn compare and protobuf framing. */
const REQUEST_OVERHEAD_BYTES = 4096;

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return typeof value;
}

/** A UTF-16 code unit of a surrogate pair without its other half. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * A recipe or key name: a non-empty string without NUL bytes, and well-formed Unicode — a lone surrogate
 * is encoded as U+FFFD in the key, so `'a\uD800'` and `'a\uDC00'` would silently be one lock (breaker
 * b-locks F2: a multi-lock on both deadlocked on itself).
 */
export function assertName(value: unknown, arg: string): asserts value is string {
  if (typeof value !== 'string')
    throw new TypeError(`Expected \`${arg}\` to be a string, got ${describe(value)}`);
  if (value.length === 0) throw new InvalidArgumentError(`Expected \`${arg}\` to be a non-empty string`);
  if (value.includes('\0')) throw new InvalidArgumentError(`Expected \`${arg}\` not to contain a NUL byte`);
  if (LONE_SURROGATE.test(value))
    throw new InvalidArgumentError(
      `Expected \`${arg}\` to be well-formed Unicode (it holds a lone surrogate, which etcd would store as U+FFFD)`,
    );
}

/** A lease TTL: an integer number of seconds, at least etcd's minimum of 2 (a 1 s TTL is silently raised). */
export function assertTtlSeconds(value: unknown, arg = 'ttlSeconds'): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 2 || value > 9_000_000_000) {
    throw new InvalidArgumentError(`Expected \`${arg}\` to be an integer ≥ 2, got ${describe(value)}`);
  }
}

/** A duration in milliseconds: a finite number ≥ 0. `undefined` means "no limit". */
export function assertOptionalDuration(value: unknown, arg: string): asserts value is number | undefined {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(
      `Expected \`${arg}\` to be a finite number of milliseconds ≥ 0, got ${describe(value)}`,
    );
  }
}

/** An integer ≥ `min` (a JS number). */
export function assertInteger(
  value: unknown,
  arg: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
    throw new InvalidArgumentError(`Expected \`${arg}\` to be an integer ${range}, got ${describe(value)}`);
  }
}

/** An `AbortSignal` or nothing. */
export function assertOptionalSignal(
  value: unknown,
  arg = 'signal',
): asserts value is AbortSignal | undefined {
  if (value !== undefined && !(value instanceof AbortSignal)) {
    throw new TypeError(`Expected \`${arg}\` to be an AbortSignal, got ${describe(value)}`);
  }
}

/** An options argument: an object (or omitted, which the caller's default replaces). */
export function assertOptions(value: unknown, arg = 'opts'): asserts value is object {
  if (value === null || typeof value !== 'object')
    throw new TypeError(`Expected \`${arg}\` to be an object, got ${describe(value)}`);
}

/** A boolean option or nothing (`'yes'` or `1` is a mistake to report, not a truthy value to accept). */
export function assertOptionalBoolean(value: unknown, arg: string): asserts value is boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean')
    throw new TypeError(`Expected \`${arg}\` to be a boolean, got ${describe(value)}`);
}

/** A value that etcd will accept in one request next to its key. */
export function assertValueSize(value: Buffer, arg: string, keyBytes = 0): void {
  const limit = MAX_REQUEST_BYTES - REQUEST_OVERHEAD_BYTES - keyBytes;
  if (value.length > limit) {
    throw new InvalidArgumentError(
      `Expected \`${arg}\` to be at most ${limit} bytes (etcd's 1.5 MiB request limit), got ${value.length} bytes`,
    );
  }
}

/**
 * An endpoint: `host:port`, `http://host:port` or `https://host:port` (IPv6 hosts in brackets).
 * Returns it unchanged so it can be handed to the client.
 */
export function assertEndpoint(value: unknown, arg = 'endpoints'): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidArgumentError(`Expected \`${arg}\` to hold "host:port" strings, got ${describe(value)}`);
  }
  const match = /^(?:(https?):\/\/)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})\/?$/.exec(value.trim());
  const port = match ? Number(match[3]) : 0;
  if (!match || port < 1 || port > 65535) {
    throw new InvalidArgumentError(
      `Expected \`${arg}\` to hold "host:port" or "http(s)://host:port" strings, got ${describe(value)}`,
    );
  }
  return value.trim().replace(/\/$/, '');
}
