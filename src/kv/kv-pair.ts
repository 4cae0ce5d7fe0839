import type { IKeyValue } from 'etcd3';
import type { Keyspace } from '../core/keys.js';
import { toKeyValue, type KeyValue } from '../core/kv.js';
import { assertName, assertTtlSeconds, assertValueSize } from '../core/validate.js';

/**
 * One key of the {@link Store}, libkv's `KVPair`: the key relative to the coordinator's namespace, its
 * value, and etcd's revisions (`lastIndex` is libkv's name for the mod revision, the token `atomicPut` and
 * `atomicDelete` compare against).
 *
 * @example
 * ```ts
 * const pair = await coord.kv.get('nodes/a');
 * if (pair) console.log(pair.key, pair.value.toString(), pair.lastIndex);
 * ```
 */
export interface KVPair {
  /** The key, without the coordinator's namespace. */
  key: string;
  /** The value's bytes. */
  value: Buffer;
  /** Revision of the last write to this key (etcd's mod revision; libkv's `LastIndex`). */
  lastIndex: bigint;
  /** Revision of the put that created this key (since its last deletion). */
  createRevision: bigint;
  /** Puts since creation: 1 for a new key. */
  version: bigint;
  /** The lease the key is attached to (a TTL put), `0n` for none. */
  leaseId: bigint;
  /**
   * Only on a pair returned by a create-only `atomicPut(key, value, null)` or a guarded `put` (a Lock/Term
   * guard, or `guard: 0n`): an earlier attempt of that write got no answer and may still be applied
   * *later*, whenever its guard holds again — "absent" after this key is deleted (the key comes back with
   * this value and lease), or, for a Lock/Term, while that holder still holds (after its own later writes to
   * the key). See docs/kv.md, "Guarded writes" and "Failure modes".
   */
  mayReapply?: true;
}

/** What the Store accepts as a value. Strings are stored as UTF-8. */
export type KVValue = string | Buffer | Uint8Array;

/** A {@link KVPair} from a key-value whose key already has the namespace removed. */
export function toPair(kv: KeyValue): KVPair {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value,
    lastIndex: kv.modRevision,
    createRevision: kv.createRevision,
    version: kv.version,
    leaseId: kv.leaseId,
  };
}

/** A {@link KVPair} from the client's raw key-value (full etcd key). */
export function rawToPair(raw: IKeyValue, keyspace: Keyspace): KVPair {
  return toPair(toKeyValue(raw, keyspace.prefix.length));
}

/** Checks a key (non-empty string without NUL) and returns its full etcd key. Throws before any request. */
export function checkKey(keyspace: Keyspace, key: unknown, arg = 'key'): Buffer {
  assertName(key, arg);
  return keyspace.key(key);
}

/** Checks a value (type and etcd's request limit next to `fullKey`) and returns its bytes. */
export function checkValue(value: unknown, fullKey: Buffer, arg = 'value'): Buffer {
  let bytes: Buffer;
  if (typeof value === 'string') bytes = Buffer.from(value, 'utf8');
  else if (Buffer.isBuffer(value)) bytes = value;
  else if (value instanceof Uint8Array) bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  else {
    const got = value === null ? 'null' : typeof value;
    throw new TypeError(`Expected \`${arg}\` to be a string, a Buffer or a Uint8Array, got ${got}`);
  }
  assertValueSize(bytes, arg, fullKey.length);
  return bytes;
}

/** Checks an optional TTL (integer ≥ 2 s). */
export function checkTtl(ttlSeconds: unknown): number | undefined {
  if (ttlSeconds === undefined) return undefined;
  assertTtlSeconds(ttlSeconds, 'ttlSeconds');
  return ttlSeconds;
}

/** Checks a `previous` pair given to `atomicPut` / `atomicDelete`. */
export function checkPrevious(previous: unknown, key: string, nullable: boolean): KVPair | null {
  if (previous === null && nullable) return null;
  const p = previous as Partial<KVPair> | null | undefined;
  if (typeof p !== 'object' || p === null || typeof p.lastIndex !== 'bigint' || p.lastIndex < 1n) {
    const what = nullable ? 'a KVPair (from get/list/watch) or null' : 'a KVPair (from get/list/watch)';
    throw new TypeError(`Expected \`previous\` to be ${what}`);
  }
  if (p.key !== undefined && p.key !== key) {
    throw new TypeError(
      `Expected \`previous\` to be a pair of key ${JSON.stringify(key)}, got ${JSON.stringify(p.key)}`,
    );
  }
  return p as KVPair;
}

/** Checks a Store prefix (`''` allowed: the whole namespace) before any request. */
export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string')
    throw new TypeError(`Expected \`prefix\` to be a string, got ${typeof prefix}`);
  if (prefix.includes('\0')) assertName(prefix, 'prefix');
}
