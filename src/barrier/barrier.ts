import { randomBytes } from 'node:crypto';
import type { CoordContext } from '../core/context.js';
import {
  abortError,
  raceAbort,
  throwIfAborted,
  withDeadline,
  type Deadline,
  type WaitOptions,
} from '../core/deadline.js';
import { DeletionWatch } from '../core/deletion-watch.js';
import { CompactedError, UnavailableError } from '../core/errors.js';
import { GhostSweeper, type GhostSpec } from '../core/ghost-sweeper.js';
import { keyAfter } from '../core/keys.js';
import { headerRevision } from '../core/kv.js';
import { Release } from '../core/release.js';
import { withRetry } from '../core/retry.js';
import type { Session } from '../core/session.js';
import { assertName, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';

/** Options of {@link Barrier.hold}. */
export interface BarrierHoldOptions {
  /**
   * Attach the barrier key to the coordinator's session lease, so the barrier releases itself if the holder
   * dies. Default false: like etcd's recipe, a held barrier outlives its holder until someone releases it.
   */
  ephemeral?: boolean;
  /** Aborts the call; a barrier that was already put up stays up. */
  signal?: AbortSignal | undefined;
  /** Upper bound of the whole call, retries and the lease grant (ephemeral) included. */
  timeoutMs?: number | undefined;
}

/** The barrier this handle put up: the create revision guards its release. */
interface Held {
  createRevision: bigint;
}

/** One release of one holding (identified by its key's create revision), retried until etcd confirms it. */
interface Releasing {
  createRevision: bigint;
  release: Release;
  /** A caller was told it is done. Until then the next `release()` call reports it (it may have finished in the background). */
  reported: boolean;
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
 * `release()` deletes only the holding it found (guarded by the key's create revision), so it is retried
 * after an unanswered attempt, in the background while the coordinator is open, and can be called again.
 */
export class Barrier {
  /** The barrier key, relative to the namespace. */
  readonly name: string;
  readonly #ctx: CoordContext;
  readonly #key: Buffer;
  #held: Held | undefined;
  #releasing: Releasing | undefined;

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
   *
   * Failure modes: an unanswered attempt applied late, after the barrier was released, would put it back
   * up; the coordinator's ghost sweeper deletes that key (it carries this call's token) while the
   * coordinator is open (ephemeral: while its session lives). One applied after that stays up.
   */
  async hold(opts: BarrierHoldOptions = {}): Promise<boolean> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    const what = `barrier "${this.name}": hold`;
    throwIfAborted(opts.signal, what);
    const deadline = withDeadline(opts.signal, opts.timeoutMs);
    try {
      const session = opts.ephemeral ? await this.#session(deadline, what) : undefined;
      const lease = session ? session.leaseId.toString() : '0';
      // A token of our own as the value makes a repeat after an unanswered attempt safe: finding our own
      // token means the earlier attempt applied.
      const token = Buffer.from(`barrier:${randomBytes(12).toString('hex')}`);
      // The guard passes again once the barrier is released: an ambiguous attempt arms the sweeper (once
      // mode, our token only) so that a late-applied one cannot put a released barrier back up.
      const ghost: GhostSpec = {
        leaseId: session?.leaseId ?? 0n,
        alive: session?.signal ?? this.#ctx.closedSignal,
        what,
        once: { value: token },
      };
      const sweeper = GhostSweeper.of(this.#ctx);
      const hold = sweeper.hold(this.#key, token);
      try {
        const held = await this.#create(token, lease, what, opts, deadline, (err) => {
          if (err instanceof UnavailableError && err.mayHaveApplied) sweeper.arm(this.#key, ghost);
        });
        sweeper.own(this.#key, held?.createRevision ?? null, token);
        if (held) this.#held = held;
        return held !== undefined;
      } finally {
        hold();
      }
    } finally {
      deadline.dispose();
    }
  }

  /** The guarded create of `hold()`, retried: our holding, or undefined when someone else holds it. */
  #create(
    token: Buffer,
    lease: string,
    what: string,
    opts: BarrierHoldOptions,
    deadline: Deadline,
    onError: (err: unknown) => void,
  ): Promise<Held | undefined> {
    return withRetry(
      async (_, attempt) => {
        const res = await this.#ctx.requester
          .run(
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
          )
          .catch((err: unknown) => {
            onError(err);
            throw err;
          });
        if (res.succeeded) return { createRevision: headerRevision(res.header) };
        const kv = res.responses[0]?.response_range.kvs[0];
        return kv !== undefined && Buffer.from(kv.value).equals(token)
          ? { createRevision: BigInt(kv.create_revision) }
          : undefined;
      },
      {
        signal: opts.signal,
        timeoutMs: deadline.remaining() ?? this.#ctx.requester.requestTimeoutMs,
        what,
        retries: 5,
      },
    );
  }

  /**
   * Takes the barrier down (deletes its key), letting every waiter through. Returns false if it was not
   * held. The delete is guarded by the create revision of the holding it takes down (this handle's own,
   * else the one it reads first), so repeating it never takes down a barrier held again since: it is
   * retried after an unanswered attempt, in the background while the coordinator is open, and a call that
   * failed can be made again (it waits for the same release).
   *
   * @example
   * ```ts
   * await coord.barrier('deploy/gate').release({ timeoutMs: 5000 });
   * ```
   *
   * @throws UnavailableError when etcd does not confirm it within a few attempts or `timeoutMs` (the
   *   release goes on in the background; call again to wait for it)
   * @throws AbortedError when `signal` aborts
   */
  async release(opts: WaitOptions = {}): Promise<boolean> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    const what = `barrier "${this.name}": release`;
    throwIfAborted(opts.signal, what);
    // Without `timeoutMs` the call still settles within the coordinator's request timeout (issue 16 f1).
    const deadline = withDeadline(opts.signal, opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs);
    try {
      let releasing = this.#releasing;
      if (!releasing || (releasing.release.done && releasing.reported)) {
        const createRevision = this.#held?.createRevision ?? (await this.#holding(what, deadline));
        if (createRevision === undefined) return false;
        const release = this.#newRelease(what, createRevision);
        releasing = this.#releasing = { createRevision, release, reported: false };
      }
      await releasing.release.run({ signal: opts.signal, timeoutMs: deadline.remaining() });
      releasing.reported = true;
      return true;
    } finally {
      deadline.dispose();
    }
  }

  /**
   * Whether the barrier is currently held.
   *
   * @throws UnavailableError when etcd cannot be reached within `timeoutMs`
   */
  async isHeld(opts: WaitOptions = {}): Promise<boolean> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    const what = `barrier "${this.name}": isHeld`;
    const res = await withRetry(
      (_, attempt) =>
        this.#ctx.requester.run(
          what,
          (o) => this.#ctx.client.kv.range({ key: this.#key, count_only: true }, o),
          { signal: attempt.signal, timeoutMs: attempt.remainingMs },
        ),
      // The retries share one request timeout unless the caller gives one (issue 16).
      {
        signal: opts.signal,
        timeoutMs: opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs,
        what,
        retries: 5,
      },
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

  /** The default session, within the call's deadline. */
  #session(deadline: Deadline, what: string): Promise<Session> {
    return raceAbort(this.#ctx.currentSession({ signal: deadline.signal }), deadline.signal, what).catch(
      (err: unknown) => {
        if (deadline.timedOut)
          throw new UnavailableError(`${what}: no session lease in time`, { cause: err });
        throw err;
      },
    );
  }

  /** The create revision of the barrier key now, or undefined when it is not held. */
  async #holding(what: string, deadline: Deadline): Promise<bigint | undefined> {
    const res = await withRetry(
      (_, attempt) =>
        this.#ctx.requester.run(
          what,
          (o) => this.#ctx.client.kv.range({ key: this.#key, keys_only: true }, o),
          {
            signal: attempt.signal,
            timeoutMs: attempt.remainingMs,
          },
        ),
      { signal: deadline.signal, timeoutMs: deadline.remaining(), what, retries: 5 },
    );
    const kv = res.kvs[0];
    return kv ? BigInt(kv.create_revision) : undefined;
  }

  /**
   * Deletes the holding created at `createRevision`. A failed guard means it is gone already (this
   * release's earlier attempt, or someone else's release): done either way.
   */
  #newRelease(what: string, createRevision: bigint): Release {
    return new Release({
      what,
      alive: this.#ctx.closedSignal,
      attempt: async () => {
        await this.#ctx.requester.run(
          what,
          (o) =>
            this.#ctx.client.kv.txn(
              {
                compare: [
                  {
                    key: this.#key,
                    target: 'Create',
                    result: 'Equal',
                    create_revision: createRevision.toString(),
                  },
                ],
                success: [{ request_delete_range: { key: this.#key } }],
              },
              o,
            ),
          { write: true },
        );
        if (this.#held?.createRevision === createRevision) this.#held = undefined;
      },
    });
  }
}
