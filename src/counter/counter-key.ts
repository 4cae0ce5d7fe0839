import type { IKeyValue, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { HistoryGuard } from './history-guard.js';

/** What a handle last saw of the key: the value and the revision that wrote it (0n: absent). */
export interface Seen {
  value: bigint;
  modRevision: bigint;
  /** The store history it was read in (history-guard.ts). */
  stamp: Buffer | null | undefined;
}

/** The key and the generation marker, read in one txn. */
export interface Read {
  kv: IKeyValue | undefined;
  stamp: Buffer | null | undefined;
}

/**
 * The requests of an {@link AtomicCounter} on its key: a read, a compare-and-set and an unconditional put,
 * each one txn that also reads the namespace's generation marker, so whatever the handle remembers names
 * the store history it came from.
 *
 * @example
 * ```ts
 * const k = new CounterKey(ctx, ctx.keyspace.key('stock'));
 * const read = await k.read('get', signal, undefined);
 * ```
 *
 * Failure modes: as `Requester.run` — `UnavailableError` (`mayHaveApplied` for the writes), `AbortedError`.
 * Writes carry no signal on purpose, so an in-flight write is always answered or times out as "may have applied".
 *
 * @internal
 */
export class CounterKey {
  readonly #ctx: CoordContext;
  readonly #key: Buffer;
  readonly history: HistoryGuard;

  constructor(ctx: CoordContext, key: Buffer) {
    this.#ctx = ctx;
    this.#key = key;
    this.history = new HistoryGuard(ctx);
  }

  /** `If(Mod(key) == seen.modRevision, marker == seen.stamp) Then(Put next) Else(Get key, Get marker)`. */
  cas(what: string, seen: Seen, next: bigint, timeoutMs: number | undefined): Promise<ITxnResponse> {
    return this.#ctx.requester.run(
      what,
      (o) =>
        this.#ctx.client.kv.txn(
          {
            // An absent key compares as mod revision 0; the marker keeps the write in `seen`'s history.
            compare: [
              { key: this.#key, target: 'Mod', result: 'Equal', mod_revision: seen.modRevision.toString() },
              ...this.history.compare(seen.stamp),
            ],
            success: [{ request_put: { key: this.#key, value: Buffer.from(next.toString()) } }],
            failure: [{ request_range: { key: this.#key } }, ...this.history.readOp()],
          },
          o,
        ),
      { write: true, timeoutMs },
    );
  }

  /** An unconditional put of `value`, with the marker read in the same txn: the handle's next CAS can trust it. */
  async put(what: string, value: bigint, timeoutMs: number | undefined): Promise<Seen> {
    await this.history.ensure(undefined);
    const res = await this.#ctx.requester.run(
      what,
      (o) =>
        this.#ctx.client.kv.txn(
          {
            compare: [],
            success: [
              { request_put: { key: this.#key, value: Buffer.from(value.toString()) } },
              ...this.history.readOp(),
            ],
          },
          o,
        ),
      { write: true, timeoutMs },
    );
    return { value, modRevision: BigInt(res.header.revision), stamp: this.history.stampIn(res, 1) };
  }

  /** The key and the marker in one txn (the marker created first if this handle has not seen it). */
  async read(what: string, signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<Read> {
    await this.history.ensure(signal);
    const res = await this.#ctx.requester.run(
      what,
      (o) =>
        this.#ctx.client.kv.txn(
          { compare: [], success: [{ request_range: { key: this.#key } }, ...this.history.readOp()] },
          o,
        ),
      { signal, timeoutMs },
    );
    return { kv: res.responses[0]?.response_range?.kvs[0], stamp: this.history.stampIn(res, 1) };
  }
}
