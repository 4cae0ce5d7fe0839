import type { IKeyValue, IResponseHeader } from 'etcd3';

/** One key-value pair as etcd stores it, with its revisions as `bigint`. */
export interface KeyValue {
  /** The key, with the coordinator's namespace removed where a recipe reports it. */
  key: Buffer;
  /** The value bytes (empty for a `keysOnly` read). */
  value: Buffer;
  /** Revision of the put that created this key; a fencing token where the key is a lock. */
  createRevision: bigint;
  /** Revision of the last put to this key. */
  modRevision: bigint;
  /** Puts since creation (1 for a new key). */
  version: bigint;
  /** Lease the key is attached to; `0n` for none. */
  leaseId: bigint;
}

/** Converts the client's raw key-value (int64 fields as strings) into a {@link KeyValue}. */
export function toKeyValue(raw: IKeyValue, strip = 0): KeyValue {
  return {
    key: strip === 0 ? raw.key : raw.key.subarray(strip),
    value: raw.value ?? Buffer.alloc(0),
    createRevision: BigInt(raw.create_revision || 0),
    modRevision: BigInt(raw.mod_revision || 0),
    version: BigInt(raw.version || 0),
    leaseId: BigInt(raw.lease || 0),
  };
}

/** The store revision a response was served at. */
export function headerRevision(header: IResponseHeader | null | undefined): bigint {
  return BigInt(header?.revision ?? 0);
}
