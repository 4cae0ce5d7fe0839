import type { IRangeRequest, IRangeResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { EPOCH_KEY, StoreResetError, ensureEpochMarker } from '../core/epoch.js';
import { CompactedError, PermissionDeniedError } from '../core/errors.js';
import { keyAfter } from '../core/keys.js';
import { headerRevision, toKeyValue, type KeyValue } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import { assertInteger, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';

/**
 * Per coordinator: the generation marker was made sure to exist (once; a reset store without it is handled
 * by {@link RangeQuery}'s retry of the first page).
 */
const markerEnsured = new WeakMap<CoordContext, Promise<void>>();

/** Options of {@link RangeQuery}. */
export interface RangeOptions {
  /** Keys per request. Memory use is about two pages. Default 1000. */
  pageSize?: number;
  /** Read every page at this revision. Default: the revision of the first page (a consistent snapshot). */
  revision?: bigint;
  /** Leave values out (they come back empty). */
  keysOnly?: boolean;
  /** Largest key first. */
  reverse?: boolean;
  /** Iterate `[key, end)` instead of a prefix. */
  end?: string | Buffer;
  /** Aborts the iteration (the next page read rejects with `ABORTED`). */
  signal?: AbortSignal;
  /** Deadline for each page, retries included. Default: the coordinator's `requestTimeoutMs`. */
  timeoutMs?: number;
}

/**
 * Every key under a prefix (or in `[start, end)`), read page by page at one fixed revision, so the result
 * is the store exactly as it was at that revision however long the iteration takes, in O(pageSize) memory.
 * Keys are reported without the coordinator's namespace.
 *
 * @example
 * ```ts
 * for await (const kv of coord.range('services/', { pageSize: 500 })) console.log(kv.key.toString());
 * const n = await coord.range('jobs/').count();
 * ```
 *
 * @throws CompactedError when the snapshot revision is compacted away mid-iteration (never a partial result)
 * @throws StoreResetError (a `CompactedError`) when etcd lost its data between two pages: the revision
 *   being read belongs to another history now
 * @throws UnavailableError when etcd stays unreachable through the retries of one page
 *
 * Failure modes: iterating a snapshot older than the compaction window fails with `COMPACTED`; start again
 * (from the current revision) to get a newer snapshot. A store reset mid-iteration is noticed by the
 * generation marker read at the snapshot's revision with every later page (so a reset store that is already
 * past that revision is caught too), or by the store being behind it; an iteration that fits in one page
 * needs no check. So that the marker exists at the snapshot's revision even on a namespace where no watch
 * was ever opened, the first iteration of a coordinator creates it (one read, and a create-only txn when
 * absent) before its first page; a multi-page snapshot that still finds no marker (the store was reset
 * since) makes sure of it again and takes a new snapshot, once. A user without permission on the marker
 * key, or a given `revision` at which the marker did not exist yet, gets the revision check only.
 */
export class RangeQuery implements AsyncIterable<KeyValue> {
  readonly #ctx: CoordContext;
  readonly #start: Buffer;
  readonly #end: Buffer;
  readonly #pageSize: number;
  readonly #keysOnly: boolean;
  readonly #reverse: boolean;
  readonly #signal: AbortSignal | undefined;
  readonly #timeoutMs: number;
  #revision: bigint | undefined;
  readonly #epochKey: Buffer;
  /** The generation marker as read at the snapshot's revision (`null`: absent then, no check possible). */
  #epoch: Buffer | null | undefined;

  constructor(ctx: CoordContext, prefix: string | Buffer, opts: RangeOptions = {}) {
    if (typeof prefix !== 'string' && !Buffer.isBuffer(prefix)) {
      throw new TypeError('Expected `prefix` to be a string or a Buffer');
    }
    const pageSize = opts.pageSize ?? 1000;
    assertInteger(pageSize, 'pageSize', 1, 1_000_000);
    assertOptionalSignal(opts.signal);
    if (opts.revision !== undefined && (typeof opts.revision !== 'bigint' || opts.revision < 1n)) {
      throw new TypeError(`Expected \`revision\` to be a bigint ≥ 1n, got ${String(opts.revision)}`);
    }
    this.#ctx = ctx;
    if (opts.end !== undefined) {
      this.#start = ctx.keyspace.key(prefix);
      this.#end = ctx.keyspace.key(opts.end);
      if (Buffer.compare(this.#start, this.#end) > 0)
        throw new RangeError('Expected `end` to sort after the start key');
    } else {
      const range = ctx.keyspace.prefixRange(prefix);
      this.#start = range.key;
      this.#end = range.end;
    }
    this.#pageSize = pageSize;
    this.#keysOnly = opts.keysOnly ?? false;
    this.#reverse = opts.reverse ?? false;
    this.#signal = opts.signal;
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    this.#timeoutMs = opts.timeoutMs ?? ctx.requester.requestTimeoutMs;
    this.#revision = opts.revision;
    this.#epochKey = ctx.keyspace.key(EPOCH_KEY);
  }

  /** The snapshot revision: given, or known once the first page is read. */
  get revision(): bigint | undefined {
    return this.#revision;
  }

  /** Number of keys in the range at the snapshot revision (or now, before the first page). */
  async count(): Promise<bigint> {
    const res = await this.#fetch({ key: this.#start, range_end: this.#end, count_only: true });
    return BigInt(res.count);
  }

  /** Iterates the keys page by page at one revision (see the class description). */
  async *[Symbol.asyncIterator](): AsyncIterator<KeyValue> {
    const strip = this.#ctx.keyspace.prefix.length;
    let start = this.#start;
    let end = this.#end;
    await this.#ensureMarker(false);
    let next: Promise<IRangeResponse> | undefined = this.#page(start, end);
    let retakes = this.#revision === undefined ? 1 : 0;
    while (next) {
      const res: IRangeResponse = await next;
      next = undefined;
      const last = res.kvs[res.kvs.length - 1];
      if (res.more && last) {
        // Pages after this one must come from the same history as this one.
        if (this.#epoch === undefined) this.#epoch = await this.#readEpoch();
        if (this.#epoch === null && retakes-- > 0) {
          // No marker at this snapshot although this coordinator created one: the store was reset since.
          // Nothing was yielded yet: create it again and take a new snapshot that holds it.
          this.#epoch = undefined;
          this.#revision = undefined;
          await this.#ensureMarker(true);
          next = this.#page(start, end);
          continue;
        }
        // Ascending: continue just after the last key. Descending: the last key is the new exclusive end.
        if (this.#reverse) end = last.key;
        else start = keyAfter(last.key);
        next = this.#page(start, end);
        // A page we stop early on must not reject unobserved.
        next.catch(() => undefined);
      }
      for (const raw of res.kvs) if (!raw.key.equals(this.#epochKey)) yield toKeyValue(raw, strip);
    }
  }

  /** Makes sure the generation marker exists (once per coordinator unless `again`). */
  async #ensureMarker(again: boolean): Promise<void> {
    let done = again ? undefined : markerEnsured.get(this.#ctx);
    if (!done) {
      done = withRetry(
        async (_, attempt) => {
          await ensureEpochMarker(this.#ctx.client, this.#ctx.requester, this.#epochKey, attempt.signal);
        },
        { signal: this.#signal, timeoutMs: this.#timeoutMs, what: 'range: epoch marker' },
      ).catch((err: unknown) => {
        // Without permission on the marker only the revision check is left (as for the watch hub).
        if (err instanceof PermissionDeniedError) return;
        markerEnsured.delete(this.#ctx);
        throw err;
      });
      markerEnsured.set(this.#ctx, done);
    }
    await done;
  }

  async #page(key: Buffer, end: Buffer): Promise<IRangeResponse> {
    const epoch = this.#epoch;
    if (!epoch) {
      return this.#pageRequest(key, end).catch(async (err: unknown) => {
        // A later page (a first one may ask for a revision not reached yet): tell a reset from a compaction.
        if (err instanceof CompactedError && epoch === null) await this.#throwIfBehind(err);
        throw err;
      });
    }
    const [res, now] = await Promise.all([this.#pageRequest(key, end), this.#readEpoch()]).catch(
      async (err: unknown) => {
        // A revision the store has not reached yet is also OUT_OF_RANGE: tell a reset from a compaction.
        if (err instanceof CompactedError) await this.#throwIfBehind(err);
        throw err;
      },
    );
    if (!now || !now.equals(epoch)) {
      throw new StoreResetError(
        `range: the etcd store was reset while reading revision ${String(this.#revision)} (its generation marker changed); start again`,
        0n,
      );
    }
    return res;
  }

  /** The generation marker at the snapshot revision, `null` when absent. */
  async #readEpoch(): Promise<Buffer | null> {
    const res = await this.#fetch({ key: this.#epochKey });
    return res.kvs[0]?.value ?? null;
  }

  async #throwIfBehind(cause: CompactedError): Promise<void> {
    const revision = this.#revision;
    if (revision === undefined) return;
    const res = await this.#ctx.requester
      .run('range', (o) => this.#ctx.client.kv.range({ key: this.#epochKey, count_only: true }, o), {
        signal: this.#signal,
        timeoutMs: this.#timeoutMs,
      })
      .catch(() => undefined);
    const current = res ? headerRevision(res.header) : undefined;
    if (current !== undefined && current < revision) {
      throw new StoreResetError(
        `range: the etcd store was reset: it is at revision ${current}, behind the snapshot's ${revision}; start again`,
        current,
        { cause },
      );
    }
  }

  #pageRequest(key: Buffer, end: Buffer): Promise<IRangeResponse> {
    return this.#fetch({
      key,
      range_end: end,
      limit: this.#pageSize,
      keys_only: this.#keysOnly,
      ...(this.#reverse ? { sort_order: 'Descend', sort_target: 'Key' } : {}),
    });
  }

  async #fetch(req: IRangeRequest): Promise<IRangeResponse> {
    const revision = this.#revision;
    const res = await withRetry(
      (_, attempt) =>
        this.#ctx.requester.run(
          'range',
          (o) =>
            this.#ctx.client.kv.range(
              { ...req, ...(revision !== undefined ? { revision: revision.toString() } : {}) },
              o,
            ),
          { signal: attempt.signal, timeoutMs: attempt.remainingMs },
        ),
      { signal: this.#signal, timeoutMs: this.#timeoutMs, what: 'range' },
    ).catch((err: unknown) => {
      if (err instanceof CompactedError && !(err instanceof StoreResetError)) {
        throw new CompactedError(
          `range: revision ${String(revision)} has been compacted`,
          err.compactRevision,
          { cause: err },
        );
      }
      throw err;
    });
    this.#revision ??= headerRevision(res.header);
    return res;
  }
}
