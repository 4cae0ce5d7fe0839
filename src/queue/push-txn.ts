import type { ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import { withDeadline } from '../core/deadline.js';
import { isTransient, SessionExpiredError, UnavailableError } from '../core/errors.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import { cmpCreate } from './claims.js';
import { waitForRoom, type Room, type RoomState } from './bounded.js';
import { QueueFullError } from './errors.js';

/** @internal What one push (`push()` or `pushMany()`) writes, and how a retry recognises its own. */
export interface PushTxnSpec {
  /** Names the call in errors. */
  what: string;
  /**
   * Created by the txn and by nobody else (a random name): while it exists, an attempt of this call has
   * applied. Every attempt is guarded by its absence, so a retry never writes twice.
   */
  guardKey: Buffer;
  /** The writes of one attempt (asked anew for each: a batch marker carries the current session's lease). */
  ops(signal: AbortSignal): Promise<IRequestOp[]>;
  /** Set for a bounded queue: the txn is also guarded by "no item created since the count". */
  room: Room | undefined;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
  /** Told of every attempt that got no answer (it may have applied, or may apply later). */
  onAmbiguous(): void;
  /** Overrides whether an error is retried (`undefined`: the default, transient errors only). */
  shouldRetry?: ((err: unknown, uncertain: boolean) => boolean | undefined) | undefined;
}

/** @internal How a push ended. */
export interface PushTxnResult {
  /** This call's txn applied at `revision`… */
  applied: boolean;
  /** …or the guard key was found, as an earlier attempt of this call created it. */
  found: IKeyValue | undefined;
  /** The revision of the txn that decided. */
  revision: bigint;
  /** Some attempt got no answer. */
  uncertain: boolean;
}

/**
 * @internal Runs one push: `ops` guarded by `guardKey` absent (and, on a bounded queue, by the room check),
 * retried on transient errors with the same keys, within `timeoutMs` (default: the request timeout per
 * round of retries). A bounded queue reads its size first; when it is full the call waits for a deletion
 * (or fails with `QueueFullError`, see {@link waitForRoom}), and a txn that lost the race to another pusher
 * reads the new size in the same round trip and tries again.
 *
 * @throws UnavailableError when etcd does not answer in time (`mayHaveApplied` when an attempt got no answer)
 * @throws QueueFullError when the queue is full and the caller does not wait (or its `timeoutMs` passed)
 * @throws AbortedError when `signal` aborts
 */
export async function runPushTxn(ctx: CoordContext, spec: PushTxnSpec): Promise<PushTxnResult> {
  const overall = withDeadline(undefined, spec.timeoutMs);
  let uncertain = false;
  let inFlight = false;
  const retry = <T>(what: string, fn: (signal: AbortSignal, remainingMs?: number) => Promise<T>) =>
    withRetry((_, attempt) => fn(attempt.signal, attempt.remainingMs), {
      signal: spec.signal,
      timeoutMs: overall.remaining() ?? ctx.requester.requestTimeoutMs,
      shouldRetry: (err: unknown) => spec.shouldRetry?.(err, uncertain) ?? isTransient(err),
      what,
    });
  try {
    let state: RoomState | undefined;
    for (;;) {
      if (spec.room && !state) {
        state = await retry(`${spec.what}: read the queue size`, (signal, timeoutMs) =>
          spec.room!.read(ctx, signal, timeoutMs),
        );
      }
      if (spec.room && state && state.count + spec.room.adding > spec.room.maxSize) {
        state = await waitForRoom(ctx, spec.room, state, {
          what: spec.what,
          signal: spec.signal,
          timeoutMs: overall.remaining(),
        });
        continue;
      }
      const compare: ICompare[] = [cmpCreate(spec.guardKey, 0n)];
      const failure: IRequestOp[] = [{ request_range: { key: spec.guardKey } }];
      if (spec.room && state) {
        compare.push(spec.room.unchangedSince(state.revision));
        failure.push(spec.room.countOp());
      }
      const res: ITxnResponse = await retry(spec.what, async (signal, timeoutMs) => {
        const success = await spec.ops(signal);
        inFlight = true;
        try {
          return await ctx.requester.run(
            spec.what,
            (o) => ctx.client.kv.txn({ compare, success, failure }, o),
            { signal, write: true, timeoutMs },
          );
        } catch (err) {
          if (err instanceof UnavailableError && err.mayHaveApplied) {
            uncertain = true;
            spec.onAmbiguous();
          }
          throw err;
        } finally {
          inFlight = false;
        }
      });
      const revision = headerRevision(res.header);
      if (res.succeeded) return { applied: true, found: undefined, revision, uncertain };
      const found = res.responses[0]?.response_range.kvs[0];
      if (found || !spec.room) return { applied: false, found, revision, uncertain };
      // Another pusher created an item since the count: count again (read in the same txn) and retry.
      state = { revision, count: Number(res.responses[1]?.response_range.count ?? 0) };
    }
  } catch (err) {
    throw mayHaveApplied(err, spec.what, uncertain, inFlight);
  } finally {
    overall.dispose();
  }
}

/**
 * The deadline may pass with an attempt in flight, or after one that got no answer; the session may end
 * after one, or the queue be found full (by the earlier attempt's own job, consumed since, or by others):
 * the push may have applied, and the error must say so.
 */
function mayHaveApplied(err: unknown, what: string, uncertain: boolean, inFlight: boolean): unknown {
  const unknownOutcome =
    (err instanceof UnavailableError && !err.mayHaveApplied) ||
    err instanceof SessionExpiredError ||
    err instanceof QueueFullError;
  if (!unknownOutcome || !(uncertain || inFlight)) return err;
  // Not the last attempt's message: it may say "it was not applied" of itself alone (a refusal).
  const why = inFlight ? 'the deadline passed with an attempt in flight' : 'an earlier attempt got no answer';
  return new UnavailableError(`${what}: ${why} (the push may have been applied)`, {
    cause: err,
    mayHaveApplied: true,
  });
}
