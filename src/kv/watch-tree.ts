import type { CoordContext } from '../core/context.js';
import type { KeyValue } from '../core/kv.js';
import type { WatchBatch } from '../core/watch-hub.js';
import type { SnapshotReason } from '../range/follow.js';
import { FollowIterator } from './follow-iterator.js';
import { toPair, type KVPair } from './kv-pair.js';
import type { KVWatchOptions } from './options.js';

/** One change to one key under a watched prefix. */
export interface KVChange {
  /** A put (created or changed) or a delete. */
  type: 'put' | 'delete';
  /** The key (without the namespace). */
  key: string;
  /** The key after a put; `null` for a delete. */
  pair: KVPair | null;
}

/** One item of `kv.watchTree(prefix)`: every key under the prefix as of `revision`, and what changed. */
export interface TreeUpdate {
  /** The store revision this state is as of. */
  revision: bigint;
  /** Every key under the prefix at `revision`, in key (byte) order: what `kv.list(prefix)` read then. */
  pairs: KVPair[];
  /**
   * What changed since the previous item, in the order etcd applied it: empty for the first item; after a
   * re-read (`reset`), the difference between the previous item and the state read.
   */
  changes: KVChange[];
  /**
   * True on the first item after the watch had to re-read instead of resuming (the history it needed was
   * compacted, or etcd lost its data: then `revision` may be *lower* than before).
   */
  reset: boolean;
}

interface Entry {
  raw: Buffer;
  pair: KVPair;
}

/**
 * The iterator behind `kv.watchTree(prefix)`: the whole prefix first (`pairs`, possibly empty), then one
 * item per revision that changed a key under it, in order, none skipped or repeated while the watch
 * resumes; a re-read (compaction, store reset) yields the state read with `reset: true`. Every watchTree
 * of one prefix on one coordinator shares one etcd watcher.
 *
 * @example
 * ```ts
 * for await (const { pairs, changes } of coord.kv.watchTree('nodes/', { signal })) render(pairs, changes);
 * ```
 */
export class TreeWatch extends FollowIterator<TreeUpdate> {
  readonly #state = new Map<string, Entry>();

  constructor(ctx: CoordContext, prefix: string, opts: KVWatchOptions) {
    super(ctx, prefix, false, opts);
  }

  protected snapshot(kvs: KeyValue[], revision: bigint, reason: SnapshotReason): TreeUpdate {
    const before = new Map(this.#state);
    this.#state.clear();
    const changes: KVChange[] = [];
    for (const kv of kvs) {
      const pair = toPair(kv);
      this.#state.set(pair.key, { raw: kv.key, pair });
      const old = before.get(pair.key)?.pair;
      if (reason !== 'initial' && (!old || old.lastIndex !== pair.lastIndex || !old.value.equals(pair.value)))
        changes.push({ type: 'put', key: pair.key, pair });
    }
    if (reason !== 'initial') {
      for (const key of before.keys())
        if (!this.#state.has(key)) changes.push({ type: 'delete', key, pair: null });
    }
    return { revision, pairs: this.#pairs(), changes, reset: reason !== 'initial' };
  }

  protected batch(batch: WatchBatch): TreeUpdate | undefined {
    const changes: KVChange[] = [];
    for (const e of batch.events) {
      const key = e.kv.key.toString('utf8');
      if (e.type === 'delete') {
        this.#state.delete(key);
        changes.push({ type: 'delete', key, pair: null });
      } else {
        const pair = toPair(e.kv);
        this.#state.set(key, { raw: e.kv.key, pair });
        changes.push({ type: 'put', key, pair });
      }
    }
    if (changes.length === 0) return undefined;
    return { revision: batch.revision, pairs: this.#pairs(), changes, reset: false };
  }

  protected merge(older: TreeUpdate, newer: TreeUpdate): TreeUpdate {
    return { ...newer, changes: [...older.changes, ...newer.changes], reset: older.reset || newer.reset };
  }

  #pairs(): KVPair[] {
    return [...this.#state.values()].sort((a, b) => Buffer.compare(a.raw, b.raw)).map((e) => e.pair);
  }
}
