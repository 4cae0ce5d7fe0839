import { randomUUID } from 'node:crypto';
import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import { CompactedError, PermissionDeniedError } from './errors.js';
import type { Requester } from './rpc.js';

/**
 * The generation marker's key, relative to the namespace. It starts with a NUL byte, which no recipe name
 * may hold, so it never falls inside a recipe's prefix; whole-namespace reads (`range('')`) leave it out.
 */
export const EPOCH_KEY = '\0etcd-coord/epoch';

/**
 * The store being followed is not the history already delivered: etcd restarted with an empty data dir,
 * or was restored from a snapshot older than what was seen. Revisions started over, so nothing read
 * before can be resumed: every follower re-reads, every wait re-checks.
 *
 * A `CompactedError` (code `COMPACTED`), so every path that already re-reads after a compaction re-reads
 * after a reset; `instanceof StoreResetError` tells the two apart.
 *
 * @example
 * ```ts
 * coord.watchHub.on('reset', ({ revision }) => log.warn(`etcd lost its data; now at ${revision}`));
 * ```
 */
export class StoreResetError extends CompactedError {
  /** Always `true`: tells a reset apart from a plain compaction without `instanceof`. */
  readonly reset = true as const;
}

/** What {@link EpochMarker.read} found. */
export type EpochCheck =
  /** The marker holds the value seen before (or this is the first look): the same history. */
  | 'same'
  /** The marker is gone or holds another value: the store was reset. */
  | 'reset'
  /** The marker cannot be read (no permission on it): only the revision check is left. */
  | 'unsupported';

/**
 * A key with a random value, created once per namespace with a create-only txn and read again on every
 * watch reconnect. A store that lost its data has no marker (or, once another process re-created it, a
 * different one), whatever its revision: this is what tells a reset store that is already *ahead* of the
 * revisions delivered from one that merely moved on.
 *
 * Failure modes: a restore from a snapshot taken *after* the marker was written keeps the marker; that case
 * is caught only when the restored store is behind the revisions delivered (the hub's revision check), not
 * when it has already moved past them. A user without read/write permission on the marker key gets
 * `unsupported`, and the same revision-only check.
 */
export class EpochMarker {
  readonly #client: Etcd3;
  readonly #requester: Requester;
  readonly #key: Buffer;
  #value: string | undefined;
  /** Found by the last check, not yet adopted. */
  #found: string | undefined;
  #unsupported = false;

  constructor(client: Etcd3, requester: Requester, key: Buffer) {
    this.#client = client;
    this.#requester = requester;
    this.#key = key;
  }

  /** The marker's full etcd key. */
  get key(): Buffer {
    return this.#key;
  }

  /**
   * Reads the marker (creating it when absent) and compares it with the value last {@link adopt | adopted}.
   * The value found is only remembered by `adopt()`: a check whose result could not be acted on (the stream
   * broke meanwhile) leaves the known value alone, so the next check reports the same reset again.
   *
   * @example
   * ```ts
   * if ((await marker.check()) === 'reset') declareReset();
   * marker.adopt();
   * ```
   *
   * @throws UnavailableError when etcd does not answer in time (the caller retries)
   */
  async check(signal?: AbortSignal): Promise<EpochCheck> {
    if (this.#unsupported) return 'unsupported';
    try {
      const found = await this.#readOrCreate(signal);
      this.#found = found;
      const before = this.#value;
      return before === undefined || before === found ? 'same' : 'reset';
    } catch (err) {
      if (err instanceof PermissionDeniedError) {
        this.#unsupported = true;
        return 'unsupported';
      }
      throw err;
    }
  }

  /**
   * Makes the value found by the last {@link check} the known one: call it once that check's result was acted
   * on (a reset declared to every follower), never before.
   *
   * @example
   * ```ts
   * marker.adopt();
   * ```
   *
   * Failure modes: none; without a check since the last adopt it changes nothing.
   */
  adopt(): void {
    if (this.#found !== undefined) this.#value = this.#found;
  }

  #readOrCreate(signal: AbortSignal | undefined): Promise<string> {
    return ensureEpochMarker(this.#client, this.#requester, this.#key, signal);
  }
}

/**
 * Reads the generation marker at `key`, creating it when absent (create-only: of several racing processes
 * one value wins and every one adopts it), and returns its value. Used by {@link EpochMarker} and by
 * paginated ranges, which need the marker to exist before their snapshot is taken.
 *
 * @example
 * ```ts
 * const value = await ensureEpochMarker(ctx.client, ctx.requester, ctx.keyspace.key(EPOCH_KEY));
 * ```
 *
 * @throws UnavailableError when etcd does not answer in time (repeating is safe)
 * @throws PermissionDeniedError when the user may not read or write the marker key
 *
 * Failure modes: an unknown outcome of the create is resolved by repeating: the failure branch reads
 * whatever was created.
 */
export async function ensureEpochMarker(
  client: Etcd3,
  requester: Requester,
  key: Buffer,
  signal?: AbortSignal,
): Promise<string> {
  const got = await requester.run('epoch marker: read', (o) => client.kv.range({ key }, o), {
    signal,
  });
  const existing = got.kvs[0]?.value;
  if (existing) return existing.toString('utf8');
  // Create-only: of several processes racing here, one value wins and every one adopts it. Repeating
  // after an unknown outcome is safe: the failure branch reads whatever was created.
  const mine = randomUUID();
  const res = await requester.run(
    'epoch marker: create',
    (o) =>
      client.kv.txn(
        {
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }],
          success: [{ request_put: { key, value: Buffer.from(mine) } }],
          failure: [{ request_range: { key } }],
        },
        o,
      ),
    { signal, write: true },
  );
  if (res.succeeded) return mine;
  return res.responses[0]?.response_range?.kvs[0]?.value?.toString('utf8') ?? mine;
}

/**
 * The compare that keeps a guarded write in the store history a read saw: the generation marker still
 * holds `stamp` (its value in that read), or is still absent (`null`). Shared by every compare-and-set that
 * must not be fooled by a revision reused after a store reset (the Store, AtomicCounter).
 *
 * @example
 * ```ts
 * txn({ compare: [modEquals, historyCompare(marker, stamp)], success: [put], failure: [get, historyReadOp(marker)] })
 * ```
 */
export function historyCompare(marker: Buffer, stamp: Buffer | null): ICompare {
  return stamp === null
    ? { key: marker, target: 'Create', result: 'Equal', create_revision: '0' }
    : { key: marker, target: 'Value', result: 'Equal', value: stamp };
}

/** The read of the generation marker to add to a txn, whose result is the `stamp` of {@link historyCompare}. */
export function historyReadOp(marker: Buffer): IRequestOp {
  return { request_range: { key: marker } };
}
