import { isOwnerKey } from '../core/keys.js';
import type { KeyValue } from '../core/kv.js';
import { assertValueSize } from '../core/validate.js';

/** The current leader of an election, as read from etcd. */
export interface LeaderInfo {
  /** The value the leader campaigned with or last proclaimed. */
  readonly value: Buffer;
  /** The leader's key, app-relative (`<name>/<leaseId hex>`). */
  readonly key: string;
  /** The lease the leader's key is attached to. */
  readonly leaseId: bigint;
  /** Create revision of the leader's key: the term's fencing token. */
  readonly revision: bigint;
  /** Revision of the last put to the leader's key (changes on `proclaim`). */
  readonly modRevision: bigint;
}

/** A campaign value: text (UTF-8) or bytes. */
export type CampaignValue = string | Uint8Array;

/**
 * Validates a campaign/proclaim value and turns it into bytes.
 *
 * @throws TypeError when it is neither a string nor bytes; InvalidArgumentError when over etcd's request limit
 */
export function encodeValue(value: unknown, arg: string, keyBytes: number): Buffer {
  if (typeof value === 'string') {
    const buf = Buffer.from(value);
    assertValueSize(buf, arg, keyBytes);
    return buf;
  }
  if (value instanceof Uint8Array) {
    const buf = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
    assertValueSize(buf, arg, keyBytes);
    return buf;
  }
  throw new TypeError(
    `Expected \`${arg}\` to be a string or a Uint8Array, got ${value === null ? 'null' : typeof value}`,
  );
}

/**
 * The leader among the keys of one election: the smallest create revision. With `prefix` (the keys'
 * `<name>/`, in the same key space as `kvs`), only keys that are exactly `<name>/<lease hex>` count, not a
 * nested name's candidates (issue 16 f3).
 */
export function pickLeader(kvs: Iterable<KeyValue>, prefix?: Buffer): KeyValue | undefined {
  let best: KeyValue | undefined;
  for (const kv of kvs) {
    if (prefix && !isOwnerKey(kv.key, prefix)) continue;
    if (!best || kv.createRevision < best.createRevision) best = kv;
  }
  return best;
}

/** A {@link LeaderInfo} from an app-relative key-value. */
export function toLeaderInfo(kv: KeyValue): LeaderInfo {
  return {
    value: kv.value,
    key: kv.key.toString(),
    leaseId: kv.leaseId,
    revision: kv.createRevision,
    modRevision: kv.modRevision,
  };
}
