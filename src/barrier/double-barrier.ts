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
import { CompactedError, ConflictError, SessionExpiredError, UnavailableError } from '../core/errors.js';
import type { Release } from '../core/release.js';
import { withRetry } from '../core/retry.js';
import type { Session } from '../core/session.js';
import { assertInteger, assertName, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';
import { clearReady, deleteWaiter, putReady, readState, type BarrierKeys } from './double-barrier-ops.js';
import { join, leaving, type Participant } from './participant.js';

/** Options of {@link DoubleBarrier}. */
export interface DoubleBarrierOptions {
  /**
   * The session whose lease carries this participant's key. Default: the coordinator's session. One session
   * is one participant per barrier name: several participants in one process need one session each
   * (`coord.newSession()`).
   */
  session?: Session;
}

/** This participant's key while it is inside the barrier, and its registration with the coordinator. */
interface Entry extends Participant {
  untrack: () => void;
}

/** A watch that broke (compacted history, cancelled by etcd) may have missed events: read and wait again. */
function watchBroke(err: unknown, deadline: Deadline): boolean {
  return !deadline.signal.aborted && (err instanceof CompactedError || err instanceof UnavailableError);
}

/**
 * A double barrier (etcd's `recipes.DoubleBarrier`, Curator's `DistributedDoubleBarrier`): {@link enter}
 * blocks until `count` participants have entered, {@link leave} blocks until every participant has left,
 * so a group of processes starts and finishes a computation together.
 *
 * Each participant is a key `<name>/waiters/<lease hex>` under its session's lease. The participant that
 * sees `count` keys (its own included) puts `<name>/ready`; the others pass `enter` on the watch event of
 * that put (no polling). `leave` deletes the own key and waits, on the same shared watch, until every key
 * still present at that revision is gone.
 *
 * @example
 * ```ts
 * const b = coord.doubleBarrier('jobs/reindex', 5);
 * await b.enter({ timeoutMs: 60_000 });   // all 5 are here
 * await doMyShare();
 * await b.leave({ timeoutMs: 60_000 });   // all 5 are done
 * ```
 *
 * Failure modes — a participant whose session dies (crash, partition) loses its key when its lease expires
 * (within its TTL), and the others see exactly that:
 * - during `enter`, before `count` was reached: it no longer counts; the others keep waiting for a
 *   replacement (or until their `timeoutMs`). The dying participant's own `enter` rejects with
 *   `SessionExpiredError`.
 * - after everyone entered: the others' `leave` proceeds once its key is gone (at most one TTL later).
 * More than `count` participants: the extra ones pass `enter` at once while the barrier is open, and are
 * waited for by `leave`. Reuse a name only once every participant's `leave` has returned (as in etcd).
 */
export class DoubleBarrier {
  /** The barrier prefix, relative to the namespace. */
  readonly name: string;
  /** How many participants `enter()` waits for. */
  readonly count: number;
  readonly #ctx: CoordContext;
  readonly #session: Session | undefined;
  readonly #keys: BarrierKeys;
  #entry: Entry | undefined;
  #busy = false;

  /** @internal use `coord.doubleBarrier(name, count)` */
  constructor(ctx: CoordContext, name: string, count: number, opts: DoubleBarrierOptions = {}) {
    assertName(name, 'name');
    assertInteger(count, 'count', 1, 1_000_000);
    this.#ctx = ctx;
    this.name = name;
    this.count = count;
    this.#session = opts.session;
    this.#keys = {
      prefix: ctx.keyspace.prefixRange(`${name}/`),
      waiters: ctx.keyspace.prefixRange(`${name}/waiters/`),
      ready: ctx.keyspace.key(`${name}/ready`),
    };
  }

  /** This participant's key while it is inside (namespace included), else undefined. */
  get key(): Buffer | undefined {
    return this.#entry?.key;
  }

  /**
   * Enters and waits until `count` participants have entered.
   *
   * @example
   * ```ts
   * await coord.doubleBarrier('phase/1', 3).enter({ timeoutMs: 30_000 });
   * ```
   *
   * @throws ConflictError when this handle is already inside, or its session already has a participant
   * @throws SessionExpiredError when the session is lost while waiting (its key is gone: it is not counted)
   * @throws AbortedError when `signal` aborts, `timeoutMs` passes or the coordinator closes; the key is removed
   */
  async enter(opts: WaitOptions = {}): Promise<void> {
    const what = `double barrier "${this.name}": enter`;
    this.#begin(opts, what);
    try {
      if (this.#entry) throw new ConflictError(`${what}: this handle is already inside; call leave() first`);
      const started = withDeadline(opts.signal, opts.timeoutMs, this.#ctx.closedSignal);
      let session: Session;
      try {
        // Bounded too: after a lost session the next one needs a lease grant, which a paused etcd never answers.
        session =
          this.#session ??
          (await raceAbort(this.#ctx.currentSession({ signal: started.signal }), started.signal, what));
      } catch (err) {
        throw started.signal.aborted ? abortError(started.signal, what) : err;
      } finally {
        started.dispose();
      }
      session.throwIfDone();
      const deadline = withDeadline(opts.signal, started.remaining(), session.signal, this.#ctx.closedSignal);
      try {
        await this.#enter(session, what, deadline);
      } catch (err) {
        // With the session gone the key went with its lease: reject at once, let the cleanup go on alone.
        const removing = this.#removeKey();
        if (!session.done) await removing;
        throw deadline.signal.aborted ? abortError(deadline.signal, what) : err;
      } finally {
        deadline.dispose();
      }
    } finally {
      this.#busy = false;
    }
  }

  async #enter(session: Session, what: string, deadline: Deadline): Promise<void> {
    let readyAt = 0n;
    let wake: (() => void) | undefined;
    const open = async (): Promise<DeletionWatch> => {
      const w = await DeletionWatch.open(
        this.#ctx,
        this.#keys.prefix.key,
        this.#keys.prefix.end,
        deadline.signal,
      );
      w.onEvent((e, revision) => {
        if (e.type === 'put' && e.kv.key.equals(this.#keys.ready) && revision > readyAt) readyAt = revision;
        wake?.();
      });
      return w;
    };
    // Watch first, then write: the ready put of whoever completes the count is seen whenever it comes.
    let watch = await open();
    try {
      const joined = await join(this.#ctx, this.#keys, this.name, session, what, deadline.signal);
      const { key } = joined.participant;
      const own = joined.participant;
      this.#entry = { ...joined.participant, untrack: this.#ctx.track(this) };
      let present = joined.present;
      for (;;) {
        if (present >= this.count) {
          if (await putReady(this.#ctx, this.#keys, own, what, deadline.signal)) return;
          throw new SessionExpiredError(
            `${what}: this participant's key was deleted (its lease expired or was revoked)`,
          );
        }
        if (readyAt > own.createRevision) return;
        // The ready put, or the deletion of our own key (our lease is gone), or a broken watch.
        const gone = watch.waitForDelete(key, own.createRevision, deadline.signal);
        gone.catch(() => undefined);
        const ready = new Promise<'ready'>((resolve) => {
          wake = () => void (readyAt > own.createRevision && resolve('ready'));
        });
        try {
          if ((await Promise.race([ready, gone])) === 'ready') return;
          throw new SessionExpiredError(
            `${what}: this participant's key was deleted (its lease expired or was revoked)`,
          );
        } catch (err) {
          if (!watchBroke(err, deadline)) throw err;
          watch.close();
          watch = await open();
          const state = await readState(this.#ctx, this.#keys, what, deadline.signal);
          present = state.present;
          if (state.readyModRevision > readyAt) readyAt = state.readyModRevision;
        } finally {
          wake = undefined;
        }
      }
    } finally {
      watch.close();
    }
  }

  /**
   * Leaves and waits until every participant has left (its key deleted, by `leave` or by lease expiry).
   * Resolves at once if this handle is not inside.
   *
   * The delete of this participant's key is guarded by its create revision, retried until confirmed, and
   * goes on in the background (while the session lives) after a call that failed or timed out: call
   * `leave()` again to wait for it and for the others.
   *
   * @example
   * ```ts
   * await barrier.leave({ timeoutMs: 30_000 });
   * ```
   *
   * @throws AbortedError when `signal` aborts, `timeoutMs` passes or the coordinator closes (the delete
   *   goes on in the background)
   * @throws UnavailableError when etcd does not confirm the delete within a few attempts (still inside
   *   until it does: call `leave` again)
   */
  async leave(opts: WaitOptions = {}): Promise<void> {
    const what = `double barrier "${this.name}": leave`;
    this.#begin(opts, what);
    const entry = this.#entry;
    const deadline = withDeadline(opts.signal, opts.timeoutMs, this.#ctx.closedSignal);
    let watch: DeletionWatch | undefined;
    try {
      if (!entry) return;
      const { prefix } = this.#keys;
      // The delete starts first, so a call that times out opening the watch has still started it.
      const deleted = this.#leaving(entry).run({ signal: deadline.signal });
      deleted.catch(() => undefined);
      watch = await DeletionWatch.open(this.#ctx, prefix.key, prefix.end, deadline.signal);
      await deleted;
      this.#forget(entry);
      // Our delete and the list of who is still inside come from one revision; a delete confirmed before
      // this watch began is listed again, so no leaver between the two is missed. The watch delivers only
      // events *above* `since`: a leaver at since itself (our revision + 1) would be missed, and waited
      // for until the deadline, unless listed again.
      let left = entry.left!;
      if (left.revision < watch.since)
        left = await deleteWaiter(this.#ctx, this.#keys, entry, what, deadline.signal);
      for (;;) {
        if (left.others.length === 0) {
          await clearReady(this.#ctx, this.#keys, left.revision, what);
          return;
        }
        const w = watch;
        const revision = left.revision;
        try {
          await Promise.all(left.others.map((key) => w.waitForDelete(key, revision, deadline.signal)));
          return;
        } catch (err) {
          if (!watchBroke(err, deadline)) throw err;
          watch.close();
          watch = await DeletionWatch.open(this.#ctx, prefix.key, prefix.end, deadline.signal);
          left = await deleteWaiter(this.#ctx, this.#keys, entry, what, deadline.signal);
        }
      }
    } catch (err) {
      throw deadline.signal.aborted ? abortError(deadline.signal, what) : err;
    } finally {
      watch?.close();
      deadline.dispose();
      this.#busy = false;
    }
  }

  /**
   * How many participants are inside now.
   *
   * @throws UnavailableError when etcd cannot be reached within `timeoutMs`
   */
  async participants(opts: WaitOptions = {}): Promise<number> {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    const what = `double barrier "${this.name}": participants`;
    const { key, end } = this.#keys.waiters;
    const res = await withRetry(
      (_, attempt) =>
        this.#ctx.requester.run(
          what,
          (o) => this.#ctx.client.kv.range({ key, range_end: end, count_only: true }, o),
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
    return Number(res.count || 0);
  }

  /** Removes this participant's key without waiting for anyone (e.g. on shutdown). Idempotent. */
  async close(): Promise<void> {
    await this.#removeKey();
  }

  /** The same as {@link DoubleBarrier.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #begin(opts: WaitOptions, what: string): void {
    assertOptionalSignal(opts.signal);
    assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    throwIfAborted(opts.signal, what);
    if (this.#busy)
      throw new ConflictError(`${what}: another enter() or leave() of this handle is in progress`);
    this.#busy = true;
  }

  /**
   * Removes this participant's key without waiting for anyone, for at most one request timeout (the
   * delete goes on in the background while the session lives).
   */
  async #removeKey(): Promise<void> {
    const entry = this.#entry;
    if (!entry) return;
    this.#forget(entry);
    await this.#leaving(entry)
      .run({ timeoutMs: this.#ctx.requester.requestTimeoutMs })
      .catch(() => undefined);
  }

  #leaving(entry: Entry): Release {
    return leaving(this.#ctx, this.#keys, this.name, entry);
  }

  #forget(entry: Entry): void {
    if (this.#entry === entry) this.#entry = undefined;
    entry.untrack();
  }
}
