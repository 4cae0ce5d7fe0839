import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../core/errors.js';

/** Turns payloads into bytes and back. The default is JSON. */
export interface QueueCodec<T> {
  /** Payload to the bytes stored in etcd. */
  encode(payload: T): Buffer | Uint8Array;
  /** Stored bytes back to the payload. */
  decode(bytes: Buffer): T;
}

/** Highest accepted priority. Priorities are integers in [0, MAX_PRIORITY]; higher is served first. */
export const MAX_PRIORITY = 999_999;

/** Where a dead letter came from. */
export interface DeadLetterInfo {
  /** The queue the job died in. */
  queue: string;
  /** Its id there. */
  id: string;
  /** Deliveries it had there (`maxAttempts`). */
  attempts: number;
}

/** What an item's value carries besides the payload: a JSON header line, then the payload bytes. */
export interface ItemHeader {
  /** Deliveries started so far (incremented in the claim txn). */
  a: number;
  /** Epoch ms before which the item is not handed out; 0 = at once. */
  v: number;
  /** Set on dead letters: where the job came from. */
  d?: DeadLetterInfo;
}

const NEWLINE = 0x0a;

/** The full value of an item key. */
export function encodeItem(header: ItemHeader, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(JSON.stringify(header)), Buffer.from([NEWLINE]), payload]);
}

/** Splits an item value into header and payload bytes; `undefined` for a value this module did not write. */
export function decodeItem(value: Buffer): { header: ItemHeader; payload: Buffer } | undefined {
  const nl = value.indexOf(NEWLINE);
  if (nl < 0) return undefined;
  try {
    const header = JSON.parse(value.subarray(0, nl).toString('utf8')) as Partial<ItemHeader>;
    if (typeof header.a !== 'number' || typeof header.v !== 'number') return undefined;
    return { header: header as ItemHeader, payload: value.subarray(nl + 1) };
  } catch {
    return undefined;
  }
}

/**
 * The bucket segment of an item key: higher priority sorts first bytewise, so `etcdctl get --prefix`
 * lists a queue in the order it is served.
 */
export function priorityBucket(priority: number): string {
  return String(MAX_PRIORITY - priority).padStart(6, '0');
}

/** The priority encoded in a bucket segment. */
export function bucketPriority(bucket: string): number {
  return MAX_PRIORITY - Number(bucket);
}

/** A random key suffix; the job's position comes from its create revision, not from this. */
export function newToken(): string {
  return randomBytes(8).toString('hex');
}

/** Where a value is not JSON, the path to it (for the error message); `undefined` when it is. */
function nonJsonPath(value: unknown, path: string, seen: Set<object>): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} (${value})`;
  if (typeof value !== 'object') return `${path} (${typeof value})`;
  if (seen.has(value)) return `${path} (a cycle)`;
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const bad = nonJsonPath(value[i], `${path}[${i}]`, seen);
        if (bad) return bad;
      }
      return undefined;
    }
    const proto: unknown = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null)
      return `${path} (a ${value.constructor?.name ?? 'non-plain'} object)`;
    for (const [k, v] of Object.entries(value)) {
      const bad = nonJsonPath(v, `${path}.${k}`, seen);
      if (bad) return bad;
    }
    return undefined;
  } finally {
    seen.delete(value);
  }
}

/**
 * Encodes a payload with the codec, or as JSON when there is none. Without a codec, only values that
 * survive a JSON round trip unchanged are accepted (no `undefined`, functions, bigints, `NaN`, class
 * instances such as `Date` or `Map`, or cycles), so a consumer gets exactly what the producer pushed.
 *
 * @throws InvalidArgumentError naming `arg` (`payload`, or `items[i]` for a batch) and where in it the problem is
 */
export function encodePayload<T>(payload: T, codec: QueueCodec<T> | undefined, arg = 'payload'): Buffer {
  if (codec) {
    const bytes = codec.encode(payload);
    if (!(bytes instanceof Uint8Array))
      throw new InvalidArgumentError(`Expected \`codec.encode(${arg})\` to return a Buffer or Uint8Array`);
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const bad = nonJsonPath(payload, arg, new Set());
  if (bad !== undefined) {
    throw new InvalidArgumentError(`Expected \`${arg}\` to be JSON (or pass a \`codec\`), but ${bad} is not`);
  }
  return Buffer.from(JSON.stringify(payload));
}

/** Decodes payload bytes with the codec, or as JSON. */
export function decodePayload<T>(bytes: Buffer, codec: QueueCodec<T> | undefined): T {
  return codec ? codec.decode(bytes) : (JSON.parse(bytes.toString('utf8')) as T);
}
