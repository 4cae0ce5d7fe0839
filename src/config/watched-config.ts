import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { IRequestOp } from 'etcd3';
import { EventEmitter } from 'eventemitter3';
import type { CoordContext } from '../core/context.js';
import { abortError, withDeadline } from '../core/deadline.js';
import { AbortedError, UnavailableError } from '../core/errors.js';
import { assertOptionalSignal, assertValueSize } from '../core/validate.js';
import { decodeValue, deepEqual, deepMerge, encodeValue, type ConfigConflict } from './shape.js';
import {
  ConfigSource,
  type ConfigEntry,
  type SourceListener,
  type SourceState,
  type SourceUpdate,
} from './source.js';
import {
  ConfigValidationError,
  formatIssues,
  type ConfigChangeInfo,
  type ConfigValue,
  type ConfigWriteOptions,
  type WatchedConfigEvents,
  type WatchedConfigOptions,
} from './types.js';
import { checkConfigOptions, checkKey, checkWriteOptions, runSchema, type Outcome } from './checks.js';
import { latestValues } from './values.js';
import { guardedWrite } from './write.js';

/**
 * A config object kept in step with every key under an etcd prefix: `db/url` → `{ db: { url } }`, values
 * JSON-decoded (text that is not JSON stays a string), laid over `defaults` and checked by any Standard
 * Schema validator, whose output type is the type of `value`.
 *
 * Loading opens the watch first, then reads a paginated snapshot at revision R and applies only events
 * above R: the same guarantee as "snapshot at R, then watch from R+1" (no update missed or seen twice),
 * without etcd parking a watch that starts in the past. Each etcd revision is applied whole, so a
 * multi-key txn is one `change`. Instances on one coordinator and prefix share one etcd watcher and
 * decode each update once (src/config/source.ts); each still starts from a read sent after it was created.
 *
 * @example
 * ```ts
 * const cfg = await coord.config('app/config/', { schema: z.object({ db: z.object({ url: z.string() }) }) });
 * cfg.value.db.url;
 * cfg.on('change', (next, prev, { revision, changedKeys }) => reconnect(next.db.url));
 * await cfg.set('db/url', 'postgres://db2', { expectRevision: cfg.modRevision('db/url') });
 * await cfg.close();
 * ```
 *
 * Failure modes: after a disconnect the watch resumes from the next revision (nothing lost or repeated);
 * when that history was compacted the prefix is re-read and one `change` is emitted if the value differs.
 * An update the schema rejects emits `invalid` and `value` keeps the last valid value. When etcd lost its
 * data (restarted empty, restored from an older snapshot) the prefix is re-read at the new store's revision
 * (lower than before), `reset` is emitted, then `change` if the value differs.
 */
export class WatchedConfig<T = ConfigValue<undefined>> extends EventEmitter<WatchedConfigEvents<T>> {
  /** The prefix, always ending in `/` (without the coordinator's namespace). */
  readonly prefix: string;
  readonly #ctx: CoordContext;
  readonly #schema: StandardSchemaV1 | undefined;
  readonly #defaults: unknown;
  readonly #listener: SourceListener;
  #source: ConfigSource | undefined;
  #entries: ReadonlyMap<string, ConfigEntry> = new Map();
  readonly #closed = new AbortController();
  readonly #revisionWaiters = new Set<{
    revision: bigint;
    reflected: () => boolean;
    resolve: () => void;
  }>();
  #untrack: () => void = () => undefined;
  #value: T | undefined;
  #hasValue = false;
  #lastRaw: unknown;
  /** The merged object the current `value` was validated from. */
  #validRaw: unknown;
  #firstIssues: readonly StandardSchemaV1.Issue[] = [];
  #settledOnce = false;
  #revision = 0n;
  /** The revision of the last state taken from the source (settled or still being validated). */
  #received = 0n;
  #conflicts: ConfigConflict[] = [];
  /** Settles updates in revision order when a validator answers asynchronously. */
  #chain: Promise<void> = Promise.resolve();
  #chained = 0;
  #closing: Promise<void> | undefined;

  /** @internal use `coord.config()` */
  constructor(
    ctx: CoordContext,
    prefix: string,
    opts: WatchedConfigOptions<StandardSchemaV1 | undefined> = {},
  ) {
    super();
    const checked = checkConfigOptions(prefix, opts);
    this.#ctx = ctx;
    this.prefix = checked.prefix;
    this.#schema = opts.schema;
    this.#defaults = checked.defaults;
    this.#listener = {
      onState: (state, info, kind) => this.#update(state, info, kind),
      onError: (err) => this.#emitSafe('error', err),
    };
  }

  /** @internal Loads the first snapshot; rejects (and closes) when it cannot be read or is invalid. */
  async start(
    opts: { signal?: AbortSignal | undefined; timeoutMs?: number | undefined } = {},
  ): Promise<this> {
    // Tracked first: coord.close() during the load closes this config, which aborts the load.
    this.#untrack = this.#ctx.track(this);
    // Never hang at startup while etcd is unreachable (the watch would wait for it indefinitely).
    const ms = opts.timeoutMs ?? 2 * this.#ctx.requester.requestTimeoutMs;
    const wait = withDeadline(opts.signal, ms, this.#closed.signal);
    const what = `config "${this.prefix}"`;
    const onTimeout = () => new UnavailableError(`${what}: not loaded within ${ms} ms (is etcd reachable?)`);
    try {
      // Instances on one prefix share one follower and one watcher; each still starts from a read sent
      // after this call, so it sees every write completed before it.
      this.#source = await ConfigSource.attach(this.#ctx, this.prefix, this.#listener, wait.signal).catch(
        (err: unknown) => {
          throw wait.timedOut ? onTimeout() : err;
        },
      );
      await this.#chain;
      if (wait.signal.aborted) throw abortError(wait.signal, what, onTimeout);
      if (!this.#hasValue) {
        throw new ConfigValidationError(
          `config "${this.prefix}" is invalid at revision ${this.#revision}: ${formatIssues(this.#firstIssues)}`,
          this.#firstIssues,
          this.#lastRaw,
          this.#revision,
        );
      }
      return this;
    } catch (err) {
      await this.close();
      throw err;
    } finally {
      wait.dispose();
    }
  }

  /** The last valid value. */
  get value(): T {
    return this.#value as T;
  }

  /** The etcd revision the config has been read up to (the last snapshot or update applied, valid or not). */
  get revision(): bigint {
    return this.#revision;
  }

  /** Keys left out of `value` (a key that is also a folder, or a key that cannot be a path). */
  get conflicts(): readonly ConfigConflict[] {
    return this.#conflicts;
  }

  /** The mod revision of a key (relative to the prefix) as last seen, `0n` when it does not exist: for `expectRevision`. */
  modRevision(key: string): bigint {
    return this.#entries.get(key)?.modRevision ?? 0n;
  }

  /**
   * Writes one key (relative to the prefix); `value` is stored as JSON (a string that is not JSON as is).
   * Resolves with the write's revision once `value` reflects it (or after the request timeout if the watch
   * lags). Object values are stored whole under the one key.
   *
   * @example `await cfg.set('db/pool', 20, { expectRevision: cfg.modRevision('db/pool') })`
   * @throws ConflictError when `expectRevision` is given and the key's mod revision differs; nothing is written
   * @throws TypeError / InvalidArgumentError for a bad key, value or option, before any request
   * @throws UnavailableError (with `mayHaveApplied`) when etcd does not answer in time
   */
  async set(key: string, value: unknown, opts: ConfigWriteOptions = {}): Promise<bigint> {
    const full = this.#checkKey(key);
    const bytes = Buffer.from(encodeValue(value));
    assertValueSize(bytes, 'value', full.length);
    const written = decodeValue(bytes);
    return this.#write('set', key, full, { request_put: { key: full, value: bytes } }, opts, written);
  }

  /**
   * Deletes one key (relative to the prefix; not the keys below it). Resolves with the revision once
   * `value` reflects it; deleting a missing key is not an error.
   *
   * @throws ConflictError when `expectRevision` is given and the key's mod revision differs; nothing is deleted
   * @throws TypeError / InvalidArgumentError for a bad key or option, before any request
   */
  async delete(key: string, opts: ConfigWriteOptions = {}): Promise<bigint> {
    const full = this.#checkKey(key);
    return this.#write('delete', key, full, { request_delete_range: { key: full } }, opts);
  }

  /**
   * The current value, then every later valid value. A consumer that falls behind skips to the latest.
   * Ends when the config closes or `signal` aborts; `break` stops it.
   *
   * @example `for await (const value of cfg.values({ signal })) render(value);`
   */
  values(opts: { signal?: AbortSignal | undefined } = {}): AsyncGenerator<T, void, undefined> {
    assertOptionalSignal(opts.signal);
    const subscribe = (fn: (value: T) => void) => {
      this.on('change', fn);
      return () => void this.off('change', fn);
    };
    return latestValues(
      subscribe,
      () => (this.#hasValue ? { value: this.#value as T } : undefined),
      this.#closed.signal,
      opts.signal,
    );
  }

  /** Iterates the values, the current one first: the same as {@link WatchedConfig.values} without options. */
  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return this.values();
  }

  /** Stops watching; iterators end and listeners are removed. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed.abort(new AbortedError(`config "${this.prefix}" closed`));
      this.#source?.release(this.#listener);
      this.#source = undefined;
      this.#untrack();
      for (const w of this.#revisionWaiters) w.resolve();
      this.#revisionWaiters.clear();
      this.removeAllListeners();
    })();
    return this.#closing;
  }

  /** The same as {@link WatchedConfig.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #checkKey(key: string): Buffer {
    checkKey(key);
    return this.#ctx.keyspace.key(this.prefix + key);
  }

  async #write(
    what: string,
    key: string,
    full: Buffer,
    op: IRequestOp,
    opts: ConfigWriteOptions,
    written?: unknown,
  ): Promise<bigint> {
    const { signal, timeoutMs } = opts;
    checkWriteOptions(opts);
    if (this.#closed.signal.aborted) throw abortError(this.#closed.signal, `config ${what}`);
    const label = `config ${what} "${this.prefix}${key}"`;
    const { revision, wrote } = await guardedWrite(this.#ctx, label, full, op, opts);
    const isPut = 'request_put' in op;
    // The revision alone is not proof: right after a store reset not yet noticed, the write's revision (new
    // store) can be below the old store's. The state must also show this write, or a later change of the key.
    const reflected = () => {
      const e = this.#entries.get(key);
      if (!isPut) return e === undefined || e.modRevision > revision;
      return (
        e !== undefined &&
        (e.modRevision > revision || (e.modRevision === revision && deepEqual(e.value, written)))
      );
    };
    if (wrote)
      await this.#seen(revision, reflected, timeoutMs ?? this.#ctx.requester.requestTimeoutMs, signal);
    return revision;
  }

  /**
   * Waits (bounded) until the follower has applied `revision` and `reflected()` holds, so `value` reads the
   * caller's own write. A later delete of a key just put (rare) holds it until the bound.
   */
  async #seen(
    revision: bigint,
    reflected: () => boolean,
    ms: number,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if ((this.#revision >= revision && reflected()) || this.#closed.signal.aborted) return;
    let waiter: { revision: bigint; reflected: () => boolean; resolve: () => void } | undefined;
    const wait = withDeadline(signal, ms);
    try {
      await new Promise<void>((resolve) => {
        waiter = { revision, reflected, resolve };
        this.#revisionWaiters.add(waiter);
        wait.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      if (waiter) this.#revisionWaiters.delete(waiter);
      wait.dispose();
    }
  }

  /** Merges and validates the state at one revision; the outcome is settled in revision order. */
  #update(state: SourceState, info: ConfigChangeInfo, kind: SourceUpdate): void {
    // A config that joined with its own read can be ahead of the shared watch (which may be catching up
    // after a reconnect): what it has already read is not applied twice.
    // After a store reset revisions start over: the re-read replaces everything, whatever its revision.
    if (kind !== 'initial' && kind !== 'reset' && state.revision <= this.#received) return;
    if (kind === 'reset') this.#emitSafe('reset', info.revision);
    this.#received = state.revision;
    this.#entries = state.entries;
    // A private copy: the tree is shared by every instance on the prefix, and `value` is the caller's.
    const tree = structuredClone(state.tree);
    const raw = this.#defaults === undefined ? tree : deepMerge(this.#defaults, tree);
    const conflicts = state.conflicts;
    const resnapshot = kind === 'resnapshot' || kind === 'reset';
    const validated = runSchema<T>(this.#schema, raw);
    const settle = (outcome: Outcome<T>) => this.#settle(info, raw, conflicts, outcome, resnapshot);
    if (this.#chained === 0 && !(validated instanceof Promise)) return settle(validated);
    this.#chained++;
    this.#chain = this.#chain
      .then(() => validated)
      .then(settle)
      .finally(() => this.#chained--);
  }

  /** A listener that throws must not break the watch (the hub would re-read): it is reported as `error`. */
  #emitSafe<E extends keyof WatchedConfigEvents<T>>(
    event: E,
    ...args: EventEmitter.ArgumentMap<WatchedConfigEvents<T>>[E]
  ): void {
    try {
      (this.emit as (e: E, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      try {
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
      } catch {
        // an error listener that throws has nowhere left to report to
      }
    }
  }

  #settle(
    info: ConfigChangeInfo,
    raw: unknown,
    conflicts: ConfigConflict[],
    outcome: Outcome<T>,
    resnapshot: boolean,
  ): void {
    if (this.#closed.signal.aborted) return;
    const started = this.#settledOnce;
    this.#settledOnce = true;
    const rawChanged = !deepEqual(raw, this.#lastRaw);
    this.#revision = info.revision;
    this.#lastRaw = raw;
    if (!deepEqual(conflicts, this.#conflicts)) {
      this.#conflicts = conflicts;
      if (started) this.#emitSafe('conflict', conflicts, info.revision);
    }
    if (!outcome.ok) {
      if (!this.#hasValue) this.#firstIssues = outcome.issues;
      else if (!resnapshot || rawChanged) this.#emitSafe('invalid', outcome.issues, raw, info);
    } else {
      const prev = this.#value as T;
      const had = this.#hasValue;
      this.#value = outcome.value;
      this.#hasValue = true;
      // After a re-read, compare what was read (plain JSON) with what gave the current value, not the
      // schema's outputs (which may hold Dates or class instances).
      const differs = !deepEqual(raw, this.#validRaw);
      this.#validRaw = raw;
      if (had && (!resnapshot || differs)) this.#emitSafe('change', outcome.value, prev, info);
    }
    for (const w of this.#revisionWaiters) if (w.revision <= info.revision && w.reflected()) w.resolve();
  }
}
