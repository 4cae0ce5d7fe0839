import type { CoordContext } from '../core/context.js';
import type { KeyValue } from '../core/kv.js';
import type { WatchBatch } from '../core/watch-hub.js';
import type { SnapshotReason } from '../range/follow.js';
import { FollowIterator } from './follow-iterator.js';
import { toPair, type KVPair } from './kv-pair.js';
import type { KVWatchOptions } from './options.js';

/** One item of `kv.watch(key)`: the key as it is after `revision`. */
export interface KeyUpdate {
  /** The key watched (without the namespace). */
  key: string;
  /** The key's value and revisions, `null` while it does not exist (libkv's `Watch` sends nothing then). */
  pair: KVPair | null;
  /** The store revision this state is as of: the snapshot's for the first item, the change's afterwards. */
  revision: bigint;
  /**
   * True on the first item after the watch had to re-read instead of resuming: the history it needed was
   * compacted, or etcd lost its data (a store reset: `revision` may be *lower* than before). Changes in
   * between were not seen one by one; this item is the current state.
   */
  reset: boolean;
}

/**
 * The iterator behind `kv.watch(key)`: the current state first (`pair: null` when absent), then one item
 * per revision that wrote or deleted the key, in order, none skipped or repeated while the watch resumes;
 * a re-read (compaction, store reset) yields the current state with `reset: true`.
 *
 * @example
 * ```ts
 * for await (const { pair } of coord.kv.watch('leader', { signal })) console.log(pair?.value.toString());
 * ```
 */
export class KeyWatch extends FollowIterator<KeyUpdate> {
  readonly #key: string;

  constructor(ctx: CoordContext, key: string, opts: KVWatchOptions) {
    super(ctx, key, true, opts);
    this.#key = key;
  }

  protected snapshot(kvs: KeyValue[], revision: bigint, reason: SnapshotReason): KeyUpdate {
    const kv = kvs[0];
    return { key: this.#key, pair: kv ? toPair(kv) : null, revision, reset: reason !== 'initial' };
  }

  protected batch(batch: WatchBatch): KeyUpdate | undefined {
    // One key: within one revision (a txn) the last event is the key's state after it.
    const last = batch.events[batch.events.length - 1];
    if (!last) return undefined;
    return {
      key: this.#key,
      pair: last.type === 'delete' ? null : toPair(last.kv),
      revision: batch.revision,
      reset: false,
    };
  }

  protected merge(older: KeyUpdate, newer: KeyUpdate): KeyUpdate {
    return { ...newer, reset: older.reset || newer.reset };
  }
}
