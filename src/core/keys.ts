/** Byte helpers for etcd key ranges and the per-coordinator namespace. */

const ZERO = Buffer.from([0]);

/**
 * The exclusive end of the range holding every key that starts with `prefix` (etcd's `GetPrefixRangeEnd`):
 * the prefix with its last byte below 0xff incremented and the 0xff bytes after it dropped. A prefix of
 * only 0xff bytes (or an empty one) has no upper bound, which etcd spells `\0`.
 */
export function prefixEnd(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i]!;
    if (byte < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return ZERO;
}

/** The smallest key strictly greater than `key`: `key + "\0"`. */
export function keyAfter(key: Buffer): Buffer {
  return Buffer.concat([key, ZERO]);
}

/** A lease id as etcd's own recipes spell it in keys: lower-case hex, no padding (Go's `%x`). */
export function leaseHex(leaseId: bigint): string {
  return leaseId.toString(16);
}

/**
 * A coordinator's key space: every key a recipe touches is `namespace + key`, and every key it reports
 * has the namespace removed, so two apps with different namespaces never see each other's keys.
 */
export class Keyspace {
  readonly prefix: Buffer;

  constructor(namespace: string) {
    this.prefix = Buffer.from(namespace);
  }

  /** The full etcd key for an app-relative key. */
  key(key: string | Buffer): Buffer {
    return this.prefix.length === 0 ? Buffer.from(key) : Buffer.concat([this.prefix, Buffer.from(key)]);
  }

  /** The app-relative key for a full etcd key (which must lie in the namespace). */
  strip(full: Buffer): Buffer {
    return full.subarray(this.prefix.length);
  }

  /** The full `[start, end)` range of every key under an app-relative prefix. */
  prefixRange(prefix: string | Buffer): { key: Buffer; end: Buffer } {
    const key = this.key(prefix);
    // An empty app prefix in an empty namespace means the whole key space: etcd spells that [\0, \0).
    if (key.length === 0) return { key: ZERO, end: ZERO };
    return { key, end: prefixEnd(key) };
  }
}

const HEX_FIRST = Buffer.from('0');
const HEX_END = Buffer.from('g'); // one past 'f': every lower-case hex digit sorts in ['0', 'g')
const OWNER_SUFFIX = /^[0-9a-f]+$/;

/**
 * The narrowest etcd range that holds every owner key `<prefix><lease hex>` (etcd's own lock and election
 * layout): `[prefix + '0', prefix + 'g')`. It still holds some other keys (a nested name such as
 * `<name>/1/…` or `<name>/B…`), so readers filter with {@link isOwnerKey}; it just keeps most nested names
 * (`jobs/nightly/…`) out of the read.
 */
export function ownerKeyRange(prefix: Buffer): { key: Buffer; end: Buffer } {
  return { key: Buffer.concat([prefix, HEX_FIRST]), end: Buffer.concat([prefix, HEX_END]) };
}

/**
 * True when `key` is exactly `<prefix><suffix>` with `suffix` matching `pattern` (default: lower-case hex,
 * a lease id as Go's `%x` writes it): a holder or candidate of *this* name, not of a nested name
 * (`<name>/<child>/<lease hex>`) that shares the prefix.
 */
export function isOwnerKey(key: Buffer, prefix: Buffer, pattern: RegExp = OWNER_SUFFIX): boolean {
  if (key.length <= prefix.length || prefix.compare(key, 0, prefix.length) !== 0) return false;
  return pattern.test(key.subarray(prefix.length).toString('latin1'));
}
