import type { IRangeRequest, IRangeResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { CompactedError } from '../core/errors.js';
import { keyAfter } from '../core/keys.js';
import { headerRevision, toKeyValue, type KeyValue } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import { assertInteger, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';

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
 * @throws UnavailableError when etcd stays unreachable through the retries of one page
 *
 * Failure modes: iterating a snapshot older than the compaction window fails with `COMPACTED`; start again
 * (from the current revision) to get a newer snapshot.
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

  async *[Symbol.asyncIterator](): AsyncIterator<KeyValue> {
    const strip = this.#ctx.keyspace.prefix.length;
    let start = this.#start;
    let end = this.#end;
    let next: Promise<IRangeResponse> | undefined = this.#page(start, end);
    while (next) {
      const res: IRangeResponse = await next;
      next = undefined;
      const last = res.kvs[res.kvs.length - 1];
      if (res.more && last) {
        // Ascending: continue just after the last key. Descending: the last key is the new exclusive end.
        if (this.#reverse) end = last.key;
        else start = keyAfter(last.key);
        next = this.#page(start, end);
        // A page we stop early on must not reject unobserved.
        next.catch(() => undefined);
      }
      for (const raw of res.kvs) yield toKeyValue(raw, strip);
    }
  }

  #page(key: Buffer, end: Buffer): Promise<IRangeResponse> {
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
      if (err instanceof CompactedError) {
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
