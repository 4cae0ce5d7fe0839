import type { CoordContext } from '../core/context.js';
import { raceAbort } from '../core/deadline.js';
import type { KeyValue } from '../core/kv.js';
import type { WatchBatch } from '../core/watch-hub.js';
import { RangeFollower, type SnapshotReason } from '../range/follow.js';
import { RangeQuery } from '../range/range.js';
import { buildTree, decodeValue, type ConfigConflict, type ConfigObject } from './shape.js';
import type { ConfigChangeInfo } from './types.js';

/** One key under the prefix, decoded. */
export interface ConfigEntry {
  value: unknown;
  modRevision: bigint;
}

/** The prefix as of one revision. Shared by every listener: never mutate it. */
export interface SourceState {
  readonly revision: bigint;
  readonly entries: ReadonlyMap<string, ConfigEntry>;
  readonly tree: ConfigObject;
  readonly conflicts: ConfigConflict[];
}

/**
 * How a state reached a listener: its first state (`initial`), one etcd revision (`batch`), a re-read
 * after the history needed to resume was compacted (`resnapshot`), or a re-read after the store was reset
 * (`reset`: its revision may be lower than any state before).
 */
export type SourceUpdate = 'initial' | 'batch' | 'resnapshot' | 'reset';

/** A `WatchedConfig` as the source sees it. Called synchronously; must not throw. */
export interface SourceListener {
  onState(state: SourceState, info: ConfigChangeInfo, kind: SourceUpdate): void;
  onError(err: Error): void;
}

type Update = [state: SourceState, info: ConfigChangeInfo, kind: SourceUpdate];

/** A config waiting for a join read: the updates published meanwhile, and how to wake it. */
interface Joiner {
  buffered: Update[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** Configs waiting for one read that has not been sent yet; they share it. */
interface Join {
  joiners: Map<SourceListener, Joiner>;
  sent: boolean;
}

const sources = new WeakMap<CoordContext, Map<string, ConfigSource>>();

/**
 * One prefix followed once per coordinator, however many `WatchedConfig` read it: one {@link RangeFollower}
 * (one etcd watcher), values decoded and the tree built once per revision.
 *
 * Every config still starts from a read sent after it was asked for (so it sees every write completed
 * before `coord.config()` was called), but configs that attach together share that read: a thousand
 * attached at once cost two reads (the follower's and one shared join read), not a thousand. A joined
 * config gets the read's state, then every update above the read's revision, buffered while it waited.
 */
export class ConfigSource {
  readonly #ctx: CoordContext;
  readonly #prefix: string;
  readonly #follower: RangeFollower;
  readonly #listeners = new Set<SourceListener>();
  readonly #loaded: Promise<void>;
  readonly #closed = new AbortController();
  #entries = new Map<string, ConfigEntry>();
  #state: SourceState | undefined;
  /** The join read still open to new configs (not sent yet). */
  #join: Join | undefined;
  /** Every join read not finished yet, sent or not. */
  readonly #joins = new Set<Join>();
  #refs = 0;

  private constructor(ctx: CoordContext, prefix: string, first: SourceListener) {
    this.#ctx = ctx;
    this.#prefix = prefix;
    // The config that creates the source starts from the follower's own snapshot, read after its call.
    this.#listeners.add(first);
    this.#follower = new RangeFollower(ctx, prefix, {
      onSnapshot: (kvs, revision, reason) => this.#onSnapshot(kvs, revision, reason),
      onBatch: (batch) => this.#onBatch(batch),
      onError: (err) => this.#each((l) => l.onError(err)),
    });
    // Each config bounds its own load (and releases the source when it gives up).
    this.#loaded = this.#follower.start({ signal: this.#closed.signal, timeoutMs: Number.POSITIVE_INFINITY });
    // A failed first load is not retried here: the source is dropped and the next config starts afresh.
    this.#loaded.catch(() => this.#forget());
  }

  /**
   * Registers `listener` on the source for `prefix` (created on first use) and resolves once it has had
   * its `initial` state; later states follow in revision order. Pair with {@link release} (not needed when it rejects).
   *
   * @throws what the first read throws (UnavailableError, AbortedError for `signal`)
   */
  static async attach(
    ctx: CoordContext,
    prefix: string,
    listener: SourceListener,
    signal: AbortSignal,
  ): Promise<ConfigSource> {
    let byPrefix = sources.get(ctx);
    if (!byPrefix) sources.set(ctx, (byPrefix = new Map()));
    let source = byPrefix.get(prefix);
    const creating = !source;
    if (!source) byPrefix.set(prefix, (source = new ConfigSource(ctx, prefix, listener)));
    source.#refs++;
    try {
      if (creating) await raceAbort(source.#loaded, signal, `config "${prefix}"`);
      else await source.#joinRead(listener, signal);
      return source;
    } catch (err) {
      source.release(listener);
      throw err;
    }
  }

  /** Removes a listener (whichever stage it is in) and drops one reference; the last one stops following. */
  release(listener: SourceListener): void {
    this.#listeners.delete(listener);
    for (const join of this.#joins) join.joiners.delete(listener);
    if (--this.#refs > 0) return;
    this.#forget();
    this.#closed.abort();
    this.#follower.close();
  }

  /** Joins the next shared read (one not sent yet), then hands the listener its state and what came after. */
  async #joinRead(listener: SourceListener, signal: AbortSignal): Promise<void> {
    let join = this.#join;
    if (!join || join.sent) {
      join = this.#join = { joiners: new Map(), sent: false };
      this.#joins.add(join);
      void this.#runJoin(join);
    }
    const joined = join;
    const done = new Promise<void>((resolve, reject) => {
      joined.joiners.set(listener, { buffered: [], resolve, reject });
    });
    await raceAbort(done, signal, `config "${this.#prefix}"`);
  }

  async #runJoin(join: Join): Promise<void> {
    try {
      // The watch must be live first, so every revision after the read reaches the buffers.
      await this.#loaded;
      // Let configs attached in the same burst join this read before it is sent.
      await new Promise((resolve) => setImmediate(resolve));
      join.sent = true;
      const query = new RangeQuery(this.#ctx, this.#prefix, { signal: this.#closed.signal });
      const kvs: KeyValue[] = [];
      for await (const kv of query) kvs.push(kv);
      const revision = query.revision ?? 0n;
      const state = this.#build(revision, this.#decode(kvs));
      const info = { revision, changedKeys: [...state.entries.keys()].sort() };
      // A config released meanwhile has left the map.
      for (const [listener, joiner] of join.joiners) {
        listener.onState(state, info, 'initial');
        for (const update of joiner.buffered) {
          if (update[0].revision > revision || update[2] === 'reset') listener.onState(...update);
        }
        this.#listeners.add(listener);
        joiner.resolve();
      }
    } catch (err) {
      for (const joiner of join.joiners.values()) joiner.reject(err);
    } finally {
      join.joiners.clear();
      this.#joins.delete(join);
      if (this.#join === join) this.#join = undefined;
    }
  }

  #forget(): void {
    const byPrefix = sources.get(this.#ctx);
    if (byPrefix?.get(this.#prefix) === this) byPrefix.delete(this.#prefix);
  }

  #each(fn: (listener: SourceListener) => void): void {
    for (const l of [...this.#listeners]) fn(l);
  }

  #onSnapshot(kvs: KeyValue[], revision: bigint, reason: SnapshotReason): void {
    const first = this.#state === undefined;
    const before = this.#entries;
    const entries = this.#decode(kvs);
    const changed = new Set<string>();
    for (const [key, e] of entries) if (before.get(key)?.modRevision !== e.modRevision) changed.add(key);
    for (const key of before.keys()) if (!entries.has(key)) changed.add(key);
    this.#entries = entries;
    this.#publish(
      revision,
      [...changed].sort(),
      first ? 'initial' : reason === 'reset' ? 'reset' : 'resnapshot',
    );
  }

  #onBatch(batch: WatchBatch): void {
    // A fresh map per revision: a listener validating asynchronously may still hold the previous one.
    const entries = new Map(this.#entries);
    const changed: string[] = [];
    for (const event of batch.events) {
      const key = this.#relative(event.kv.key);
      if (event.type === 'put') {
        entries.set(key, { value: decodeValue(event.kv.value), modRevision: event.kv.modRevision });
      } else entries.delete(key);
      if (!changed.includes(key)) changed.push(key);
    }
    this.#entries = entries;
    this.#publish(batch.revision, changed, 'batch');
  }

  #publish(revision: bigint, changedKeys: string[], kind: SourceUpdate): void {
    const state = this.#build(revision, this.#entries);
    this.#state = state;
    const info = { revision, changedKeys };
    this.#each((l) => l.onState(state, info, kind));
    // Configs waiting for a join read get these later, after the read's own state.
    if (kind !== 'initial') {
      for (const join of this.#joins)
        for (const j of join.joiners.values()) j.buffered.push([state, info, kind]);
    }
  }

  #decode(kvs: KeyValue[]): Map<string, ConfigEntry> {
    const entries = new Map<string, ConfigEntry>();
    for (const kv of kvs) {
      entries.set(this.#relative(kv.key), { value: decodeValue(kv.value), modRevision: kv.modRevision });
    }
    return entries;
  }

  #build(revision: bigint, entries: ReadonlyMap<string, ConfigEntry>): SourceState {
    const { tree, conflicts } = buildTree([...entries].map(([k, e]) => [k, e.value] as const));
    return { revision, entries, tree, conflicts };
  }

  #relative(full: Buffer): string {
    // The follower strips the namespace; what is left starts with the prefix.
    return full.toString('utf8').slice(this.#prefix.length);
  }
}
