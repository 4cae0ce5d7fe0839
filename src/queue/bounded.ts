import type { ICompare, IRequestOp } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { abortError, withDeadline } from '../core/deadline.js';
import { headerRevision } from '../core/kv.js';
import { QueueFullError } from './errors.js';

/** @internal The size of a queue at one revision. */
export interface RoomState {
  revision: bigint;
  count: number;
}

/**
 * @internal The room check of a bounded queue (`coord.queue(name, { maxSize })`).
 *
 * etcd cannot compare a count in a txn, but it can compare *every key of a range* (`Compare.range_end`):
 * `Create < R + 1` over the items holds only while no item was created after revision R. So a push reads
 * the size `n` at R, and its txn applies only if no item was created since: the size is then at most `n`
 * (deletions only lower it), and `n + adding ≤ maxSize` was checked. The bound is exact, for every handle
 * that sets `maxSize`: concurrent pushers serialise on the guard (the losers read the new size in the
 * failure branch and try again), claims and nacks do not disturb it (they keep an item's create revision).
 */
export class Room {
  readonly maxSize: number;
  /** Jobs this push adds. */
  readonly adding: number;
  /** Fail at once with `QueueFullError` instead of waiting. */
  readonly wait: boolean;
  readonly queue: string;
  /** The queue handle's close: a push waiting for room stops with it. */
  readonly closed: AbortSignal | undefined;
  readonly #key: Buffer;
  readonly #end: Buffer;

  constructor(
    range: { key: Buffer; end: Buffer },
    settings: { maxSize: number; adding: number; wait: boolean; queue: string; closed?: AbortSignal },
  ) {
    this.#key = range.key;
    this.#end = range.end;
    this.maxSize = settings.maxSize;
    this.adding = settings.adding;
    this.wait = settings.wait;
    this.queue = settings.queue;
    this.closed = settings.closed;
  }

  /** "No item was created after `revision`" (true of an empty range too: etcd compares a zero key). */
  unchangedSince(revision: bigint): ICompare {
    const compare: ICompare & { range_end: Buffer } = {
      key: this.#key,
      range_end: this.#end, // in etcd's proto (since 3.3), not in etcd3's typings
      target: 'Create',
      result: 'Less',
      create_revision: (revision + 1n).toString(),
    };
    return compare;
  }

  /** The size, read in a txn's failure branch. */
  countOp(): IRequestOp {
    return { request_range: { key: this.#key, range_end: this.#end, count_only: true } };
  }

  /** One size read (not retried here). */
  async read(ctx: CoordContext, signal: AbortSignal, timeoutMs: number | undefined): Promise<RoomState> {
    const res = await ctx.requester.run(
      `queue "${this.queue}": read the queue size`,
      (o) => ctx.client.kv.range({ key: this.#key, range_end: this.#end, count_only: true }, o),
      { signal, timeoutMs },
    );
    return { revision: headerRevision(res.header), count: Number(res.count) };
  }

  /** The watched range: the queue's items. */
  get range(): { key: Buffer; end: Buffer } {
    return { key: this.#key, end: this.#end };
  }
}

/**
 * @internal Waits until the queue has room for `room.adding` jobs, from the size `state` seen: follows the
 * items from `state.revision + 1` on one watch (no polling), counting creations and deletions, and resolves
 * with the size at the first revision where they fit (`undefined` when events were missed: read it again).
 * With `room.wait` false it fails at once instead.
 *
 * @throws QueueFullError when `room.wait` is false, or when `timeoutMs` passes first (cause `DeadlineExceeded`)
 * @throws AbortedError when `signal` aborts
 */
export async function waitForRoom(
  ctx: CoordContext,
  room: Room,
  state: RoomState,
  opts: { what: string; signal: AbortSignal | undefined; timeoutMs: number | undefined },
): Promise<RoomState | undefined> {
  const full = (why: string, cause?: unknown) =>
    new QueueFullError(
      `${opts.what}: queue "${room.queue}" is full (${state.count} of maxSize ${room.maxSize} jobs, ${room.adding} to add)${why}`,
      { cause },
    );
  if (!room.wait) throw full('');
  if (room.adding > room.maxSize) throw full(': it can never hold them all');
  const wait = withDeadline(opts.signal, opts.timeoutMs, ctx.closedSignal, room.closed);
  let count = state.count;
  try {
    return await new Promise<RoomState | undefined>((resolve, reject) => {
      const sub = ctx.watchHub.watch(
        { ...room.range, startRevision: state.revision + 1n },
        {
          onBatch: (batch) => {
            for (const ev of batch.events) {
              if (ev.type === 'delete') count--;
              else if (ev.kv.createRevision === ev.kv.modRevision) count++;
            }
            if (count + room.adding <= room.maxSize) done({ revision: batch.revision, count });
          },
          // Events were missed: the size is unknown, the caller reads it again.
          onCompacted: () => done(undefined),
          onError: (err) => fail(err),
        },
      );
      const onAbort = () =>
        fail(
          wait.timedOut && !opts.signal?.aborted
            ? full(' and stayed full until the deadline', wait.signal.reason)
            : abortError(wait.signal, opts.what),
        );
      const cleanup = () => {
        sub.close();
        wait.signal.removeEventListener('abort', onAbort);
      };
      const done = (s: RoomState | undefined) => {
        cleanup();
        resolve(s);
      };
      const fail = (err: Error) => {
        cleanup();
        reject(err);
      };
      if (wait.signal.aborted) return onAbort();
      wait.signal.addEventListener('abort', onAbort, { once: true });
    });
  } finally {
    wait.dispose();
  }
}
