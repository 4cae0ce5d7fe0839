import { randomBytes } from 'node:crypto';
import type { CoordContext } from '../core/context.js';
import { abortError, throwIfAborted, withDeadline, type WaitOptions } from '../core/deadline.js';
import { DeletionWatch } from '../core/deletion-watch.js';
import { CompactedError, UnavailableError } from '../core/errors.js';
import { keyAfter } from '../core/keys.js';
import { headerRevision } from '../core/kv.js';
import { withRetry } from '../core/retry.js';
import { assertName, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';

/** Options of {@link Barrier.hold}. */
export interface BarrierHoldOptions {
  /**
   * Attach the barrier key to the coordinator's session lease, so the barrier releases itself if the holder
   * dies. Default false: like etcd's recipe, a held barrier outlives its holder until someone releases it.
   */
  ephemeral?: boolean;
  signal?: AbortSignal | undefined;
}

/**
 * A barrier (etcd's `recipes.Barrier`): while its key exists, every {@link wait} blocks; {@link release}
 * deletes the key and lets every waiter through at once. Any process may hold or release it.
 *
 * @example
 * ```ts
 * const gate = coord.barrier('deploy/gate');
 * await gate.hold();                           // true: we put the barrier up
 * // elsewhere: await coord.barrier('deploy/gate').wait({ timeoutMs: 60_000 });
 * await gate.release();                        // every waiter proceeds
 * ```
 *
 * Failure modes: `wait()` watches the key through the coordinator's shared watch (no polling); a watch
 * broken long enough for its history to be compacted re-reads and waits again. A holder that dies leaves
 * the barrier up unless it held it with `{ ephemeral: true }`. Reusing a name right after release is fine:
 * a waiter lets itself through on the deletion it saw, even if the barrier is held again at once.
 */
export class Barrier {
  readonly name: string;
  readonly #ctx: CoordContext;
  readonly #key: Buffer;

  /** @internal use `coord.barrier(name)` */
  constructor(ctx: CoordContext, name: string) {
    assertName(name, 'name');
    this.#ctx = ctx;
    this.name = name;
    this.#key = ctx.keyspace.key(name);
  }

  /**
   * Puts the barrier up. Returns false if it was already held (by anyone, this handle included).
   *
   * @example
   * ```ts
   * if (!(await coord.barrier('maintenance').hold())) console.log('already held');
   * ```
   *
   * @throws UnavailableError when etcd stays unreachable for `requestTimeoutMs` (a request whose outcome was unknown is repeated
   *   safely: the holder recognises its own token)
   */
  async hold(opts: BarrierHoldOptions = {}): Promise<boolean> {
    assertOptionalSignal(opts.signal);
    const what = `barrier "${this.name}": hold`;
    throwIfAborted(opts.signal, what);
    const lease = opts.ephemeral
      ? (await this.#ctx.currentSession({ signal: opts.signal })).leaseId.toString()
      : '0';
    // A token of our own as the value makes a repeat after an unanswered attempt safe: finding our own
    // token means the earlier attempt applied.
    const token = Buffer.from(`barrier:${randomBytes(12).toString('hex')}`);
    return withRetry(
      async (_, attempt) => {
        const res = await this.#ctx.requester.run(
          what,
          (o) =>
            this.#ctx.client.kv.txn(
              {
                compare: [{ key: this.#key, target: 'Create', result: 'Equal', create_revision: '0' }],
                success: [{ request_put: { key: this.#key, value: token, lease } }],
                failure: [{ request_range: { key: this.#key } }],
              },
              o,
            ),
          { signal: attempt.signal, timeoutMs: attempt.remainingMs, write: true },
        );
        if (res.succeeded) return true;
        const kv = res.responses[0]?.response_range.kvs[0];
        return kv !== undefined && Buffer.from(kv.value).equals(token);
      },
      // The retries share one request timeout: without it, 5 unanswered attempts took 5× (issue 16).
      { signal: opts.signal, what, retries: 5, timeoutMs: this.#ctx.requester.requestTimeoutMs },
    );
  }

  /**
   * Takes the barrier down (deletes its key), letting every waiter through. Returns false if it was not
   * held.
   *
   * @throws UnavailableError when etcd does not answer; `mayHaveApplied` is true. Not repeated on its own: a
   *   repeat could take down a barrier that someone held again in the meantime. Call it again if that is
   *   what you want.
   */
  async release(opts: { signal?: AbortSignal | undefined } = {}): Promise<boolean> {
    assertOptionalSignal(opts.signal);
    const what = `barrier "${this.name}": release`;
    throwIfAborted(opts.signal, what);
    const res = await this.#ctx.requester.run(
      what,
      (o) => this.#ctx.client.kv.deleteRange({ key: this.#key }, o),
      {
        write: true,
      },
    );
    return BigInt(res.deleted || 0) > 0n;
  }

  /** Whether the barrier is currently held. @throws UnavailableError when etcd does not answer within `requestTimeoutMs` */
  async isHeld(opts: { signal?: AbortSignal | undefined } = {}): Promise<boolean> {
    const what = `barrier "${this.name}": isHeld`;
    const res = await withRetry(
      (_, attempt) =>
        this.#ctx.requester.run(
          what,
          (o) => this.#ctx.client.kv.range({ key: this.#key, count_only: true }, o),
          { signal: attempt.signal, timeoutMs: attempt.remainingMs },
        ),
      { signal: opts.signal, what, retries: 5, timeoutMs: this.#ctx.requester.requestTimeoutMs },
    );
    return BigInt(res.count || 0) > 0n;
  }

  /**
   * Resolves once the barrier is not held: at once if it is down, else when its key is deleted.
   *
   * @example
   * ```ts
   * await coord.barrier('deploy/gate').wait({ timeoutMs: 30_000 });
   * ```
   *
   * @throws AbortedError when `signal` aborts, `timeoutMs` passes or the coordinator closes first
   * @throws UnavailableError when etcd cannot be reached for the initial read
   */
  async wait(opts: WaitOptions = {}): Promise<void> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    const what = `barrier "${this.name}": wait`;
    throwIfAborted(opts.signal, what);
    const deadline = withDeadline(opts.signal, opts.timeoutMs, this.#ctx.closedSignal);
    try {
      for (;;) {
        const watch = await DeletionWatch.open(this.#ctx, this.#key, keyAfter(this.#key), deadline.signal);
        try {
          // The watch is live before this read: a release after it is seen, whenever it happens.
          const res = await withRetry(
            () =>
              this.#ctx.requester.run(
                what,
                (o) => this.#ctx.client.kv.range({ key: this.#key, count_only: true }, o),
                { signal: deadline.signal },
              ),
            { signal: deadline.signal, what, retries: 5 },
          );
          if (BigInt(res.count || 0) === 0n) return;
          try {
            await watch.waitForDelete(this.#key, headerRevision(res.header), deadline.signal);
            return;
          } catch (err) {
            // The watch broke (compacted history, cancelled by etcd): it may have missed the deletion, so
            // read again on a fresh one.
            if (
              !deadline.signal.aborted &&
              (err instanceof CompactedError || err instanceof UnavailableError)
            )
              continue;
            throw err;
          }
        } finally {
          watch.close();
        }
      }
    } catch (err) {
      if (deadline.signal.aborted) throw abortError(deadline.signal, what);
      throw err;
    } finally {
      deadline.dispose();
    }
  }
}
