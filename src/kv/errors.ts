import { ConflictError } from '../core/errors.js';
import type { KVPair } from './kv-pair.js';

/**
 * `atomicPut` / `atomicDelete` found the key not as `previous` said (libkv's `ErrKeyModified`, and
 * `ErrKeyExists` for a create-only put): somebody else wrote or deleted it first. Nothing was written.
 * `current` is the key as it is now, read in the same txn (`null`: absent), so the caller can retry
 * with it without another read. A {@link ConflictError} (code `CONFLICT`).
 *
 * @example
 * ```ts
 * try { await kv.atomicPut('k', 'v', pair); }
 * catch (err) { if (err instanceof KeyConflictError) retryWith(err.current); }
 * ```
 */
export class KeyConflictError extends ConflictError {
  constructor(
    message: string,
    /** The key as it is now, read in the same txn (`null`: absent). */
    readonly current: KVPair | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
