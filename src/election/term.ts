import { clearHolderOp } from '../core/held-marker.js';
import type { ICompare } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import type { DeletionWatch } from '../core/deletion-watch.js';
import { AbortedError, LockLostError, NotLeaderError, UnavailableError } from '../core/errors.js';
import { releaseMarkerOp } from '../core/lock-delay.js';
import { Release, type ReleaseRunOptions } from '../core/release.js';
import type { Session } from '../core/session.js';
import { encodeValue, type CampaignValue } from './leader.js';
import { watchOwnKey } from './own-key-watch.js';
import { settled } from './withdraw.js';

/** What {@link Term} is built from; made by `Election.campaign()`. */
export interface TermInit {
  ctx: CoordContext;
  name: string;
  /** Full etcd key (namespace included). */
  fullKey: Buffer;
  fencingToken: bigint;
  session: Session;
  value: Buffer;
  /** The prefix watch opened by the campaign, handed over to keep watching the own key. */
  watch: DeletionWatch;
  /** Revision of the campaign's last read: any deletion of the own key above it ends the term. */
  readRevision: bigint;
  /** Ends this caller's in-process turn on the key: the next `campaign()` on the same session and name may go. */
  releaseTurn: () => void;
  /**
   * `<name>\0released`, put by the resign's txn so waiters can tell a clean resign from a loss (lock-delay);
   * only with `lockDelayMs` set, so an election without it needs no access outside `<name>/` (RBAC).
   */
  marker: Buffer | undefined;
  /**
   * Keep the in-process turn after a loss until `close()`/`resign()` (runAsLeader: the next caller's body
   * must not start while this one's still runs, breaker F1). Otherwise the turn passes on at the loss.
   */
  turnUntilClose?: boolean | undefined;
  /** Called once when the term ends by a loss (not a resign): the next in-process caller's lock-delay. */
  onLost?: (() => void) | undefined;
  /** `<name>\0held`, deleted by a clean resign (core/held-marker.ts); only with `lockDelayMs` set. */
  heldMarker?: Buffer | undefined;
  /** The campaign waited its lock-delay after a lost predecessor before it was elected. */
  lockDelayed?: boolean | undefined;
}

/**
 * One leadership term, won by `Election.campaign()`. It lasts until `resign()`, the session's lease is
 * (or may be) lost, or the leader key is deleted by someone else; `signal` aborts at that moment.
 *
 * @example
 * ```ts
 * const term = await coord.election('svc/scheduler').campaign('host-a');
 * await db.write(row, { fencingToken: term.fencingToken, signal: term.signal });
 * await term.proclaim('host-a (draining)');
 * await term.resign();
 * ```
 *
 * Failure modes: etcd unreachable for TTL − margin → `signal` aborts with `SessionExpiredError` before
 * the server can delete the key (another candidate cannot have been elected yet); key deleted by another
 * client (e.g. `etcdctl del`) → `signal` aborts with `LockLostError` within one watch notification; a
 * resign whose delete got no answer → `resign()` rejects, can be called again, and is retried in the
 * background while the session lives (the key goes within ~1 s plus one request timeout of etcd answering).
 * A process resumed after SIGSTOP past its TTL may run one more timer callback before `signal` aborts
 * (timer order after SIGCONT): writes that must only happen while leader use `guard()`, never `isLeader`.
 */
export class Term {
  /** The leader key, app-relative: `<name>/<leaseId hex>`. */
  readonly key: string;
  /** Create revision of the leader key: strictly increasing across terms of one election. */
  readonly fencingToken: bigint;
  /** The lease the leader key is attached to. */
  readonly leaseId: bigint;
  /** @internal The campaign already waited its lock-delay after a lost predecessor (`once()` reads it). */
  readonly lockDelayed: boolean;
  readonly #ctx: CoordContext;
  readonly #name: string;
  readonly #fullKey: Buffer;
  readonly #controller = new AbortController();
  readonly #untrack: () => void;
  readonly #session: Session;
  readonly #releaseTurn: () => void;
  readonly #turnUntilClose: boolean;
  readonly #marker: Buffer | undefined;
  readonly #heldMarker: Buffer | undefined;
  #value: Buffer;
  /** Set by the first `resign()`/`close()`: the retrying delete of the leader key. */
  #release: Release | undefined;
  /** A resign attempt got no answer: it may have deleted the key, so a failed guard later means success. */
  #resignMayHaveApplied = false;

  /** @internal made by `Election.campaign()` */
  constructor(init: TermInit) {
    this.#ctx = init.ctx;
    this.#name = init.name;
    this.#fullKey = init.fullKey;
    this.key = init.ctx.keyspace.strip(init.fullKey).toString();
    this.fencingToken = init.fencingToken;
    this.leaseId = init.session.leaseId;
    this.lockDelayed = init.lockDelayed === true;
    this.#value = init.value;
    this.#session = init.session;
    let turnReleased = false;
    this.#releaseTurn = () => {
      if (turnReleased) return;
      turnReleased = true;
      init.releaseTurn();
    };
    this.#turnUntilClose = init.turnUntilClose === true;
    this.#marker = init.marker;
    this.#heldMarker = init.heldMarker;
    this.#untrack = init.ctx.track(this);
    const onLost = () => this.#end(init.session.signal.reason as Error);
    this.#controller.signal.addEventListener(
      'abort',
      () => {
        init.session.signal.removeEventListener('abort', onLost);
        this.#untrack();
        // Lost (key gone, lease gone or in doubt): nothing of ours is left to delete under this session,
        // so the next caller may campaign — unless this term's user is still running (turnUntilClose: the
        // turn passes at close()). A resign hands the turn on once its delete is settled.
        if (!this.#release) {
          init.onLost?.();
          if (!this.#turnUntilClose) this.#releaseTurn();
        }
      },
      { once: true },
    );
    if (init.session.signal.aborted) onLost();
    else init.session.signal.addEventListener('abort', onLost, { once: true });
    void watchOwnKey({
      ctx: init.ctx,
      name: init.name,
      fullKey: init.fullKey,
      fencingToken: init.fencingToken,
      watch: init.watch,
      readRevision: init.readRevision,
      signal: this.#controller.signal,
      onGone: (err) => this.#end(err),
    });
  }

  /** Aborted when the term ends: resigned (`AbortedError`), session lost (`SessionExpiredError`), key deleted (`LockLostError`). */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True while the term has not ended as far as this process knows. */
  get isLeader(): boolean {
    return !this.#controller.signal.aborted;
  }

  /**
   * The `etcd3` comparator "this term is still current" (the leader key exists with this term's create
   * revision), for writes that must only happen while leader.
   *
   * @example
   * ```ts
   * const res = await coord.client.if(...term.guard()).then(coord.client.put('schedule').value(plan)).commit();
   * if (!res.succeeded) throw new Error('no longer leader: write refused');
   * ```
   */
  guard(): readonly [key: Buffer, column: 'Create', cmp: '==', value: string] {
    return [this.#fullKey, 'Create', '==', this.fencingToken.toString()];
  }

  /** The same condition as {@link guard} as a raw `Compare`, for `client.kv.txn({ compare: [...] })`. */
  guardCompare(): ICompare {
    return {
      key: this.#fullKey,
      target: 'Create',
      result: 'Equal',
      create_revision: this.fencingToken.toString(),
    };
  }

  /** The value last campaigned with or proclaimed. */
  get value(): Buffer {
    return this.#value;
  }

  /**
   * Replaces the leader's value, guarded by this term's create revision (no write if the term is over).
   *
   * @throws NotLeaderError when this campaigner is no longer the leader
   * @throws UnavailableError when etcd does not answer (the put may have been applied)
   */
  async proclaim(value: CampaignValue): Promise<void> {
    const buf = encodeValue(value, 'value', this.#fullKey.length);
    this.#throwIfEnded('proclaim');
    const res = await this.#ctx.requester.run(
      `election "${this.#name}": proclaim`,
      (o) =>
        this.#ctx.client.kv.txn(
          {
            compare: [
              {
                key: this.#fullKey,
                target: 'Create',
                result: 'Equal',
                create_revision: this.fencingToken.toString(),
              },
            ],
            success: [{ request_put: { key: this.#fullKey, value: buf, lease: this.leaseId.toString() } }],
            failure: [],
          },
          o,
        ),
      { write: true },
    );
    if (!res.succeeded) {
      const err = new LockLostError(`election "${this.#name}": the leader key ${this.key} is gone`);
      this.#end(err);
      throw new NotLeaderError(`election "${this.#name}": proclaim by a campaigner that is not the leader`, {
        cause: err,
      });
    }
    this.#value = buf;
  }

  /**
   * Ends the term: this process stops acting as leader at once (`signal` aborts with `AbortedError`), then
   * the leader key is deleted, guarded by this term's create revision, so it never deletes a newer
   * leader's key. The next candidate is elected within one watch notification.
   *
   * A delete that gets no answer is retried in the background while the session lives; the call rejects
   * after a few failed attempts or `timeoutMs` (default: the coordinator's `requestTimeoutMs`), and calling
   * it again waits for the next attempts (etcd 3.6's `TestElectionResignCanRetryAfterError`). Another `campaign()` on the same session and name waits
   * until the delete is confirmed (or the session is gone).
   *
   * @example
   * ```ts
   * try { await term.resign(); } catch (err) { log.warn(err); await term.resign(); } // retry is safe
   * ```
   *
   * @throws NotLeaderError when the term had already ended (key gone, session lost) before the first call:
   *   deliberate, so a caller learns its term was lost rather than cleanly ended; where a loss is not an
   *   error (cleanup in a `finally`), call `close()`, which resolves then
   * @throws UnavailableError when etcd has not confirmed the delete yet (it goes on in the background)
   * @throws AbortedError when `opts.signal` aborts first (the delete goes on in the background)
   */
  resign(opts: ReleaseRunOptions = {}): Promise<void> {
    if (!this.#release) {
      if (this.#controller.signal.aborted) {
        // Ended by a loss: nothing is left to delete, so a turn kept until now passes on.
        this.#releaseTurn();
        return Promise.reject(
          new NotLeaderError(`election "${this.#name}": resign after the term ended`, {
            cause: this.#controller.signal.reason,
          }),
        );
      }
      const release = new Release({
        what: `election "${this.#name}": resign`,
        attempt: (signal) => this.#deleteKey(signal),
        alive: this.#session.signal,
      });
      this.#release = release;
      // Stop acting as leader before the key can go: nobody else is elected while we still think we lead.
      this.#end(new AbortedError(`election "${this.#name}": resigned`));
      void settled(release, this.#session.signal).then(this.#releaseTurn);
    }
    // Settles within one request deadline unless told otherwise (issue 16 f1); the delete goes on anyway.
    const timeoutMs = opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs;
    return this.#release.run({ signal: opts.signal, timeoutMs });
  }

  /**
   * Resigns if the term is still held; resolves at once if it already ended some other way (nothing is left
   * to delete). Safe to call again; waits at most one request timeout per call.
   *
   * @example
   * ```ts
   * await term.close();
   * ```
   *
   * @throws UnavailableError when etcd has not confirmed the delete (it goes on in the background while the
   *   session lives; `coord.close()` revokes the lease, which deletes the key anyway)
   */
  async close(): Promise<void> {
    if (!this.#release && this.#controller.signal.aborted) {
      this.#releaseTurn();
      return;
    }
    try {
      await this.resign();
    } catch (err) {
      if (err instanceof NotLeaderError) return;
      throw err;
    }
  }

  /** Resigns, for `await using`: the same as {@link Term.close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** One resign attempt: the guarded delete of the leader key. */
  async #deleteKey(signal: AbortSignal): Promise<void> {
    let res;
    try {
      res = await this.#ctx.requester.run(
        `election "${this.#name}": resign`,
        (o) =>
          this.#ctx.client.kv.txn(
            {
              compare: [this.guardCompare()],
              success: [
                { request_delete_range: { key: this.#fullKey } },
                ...(this.#marker ? [releaseMarkerOp(this.#marker, this.#fullKey, this.leaseId)] : []),
                ...(this.#heldMarker ? [clearHolderOp(this.#heldMarker)] : []),
              ],
              failure: [],
            },
            o,
          ),
        { signal, write: true },
      );
    } catch (err) {
      if (err instanceof UnavailableError && err.mayHaveApplied) this.#resignMayHaveApplied = true;
      throw err;
    }
    // The key is gone either way; it was not our resign that removed it unless an earlier attempt may have.
    if (!res.succeeded && !this.#resignMayHaveApplied)
      throw new NotLeaderError(`election "${this.#name}": resign by a campaigner that is not the leader`);
  }

  #throwIfEnded(what: string): void {
    const signal = this.#controller.signal;
    if (!signal.aborted) return;
    throw new NotLeaderError(`election "${this.#name}": ${what} after the term ended`, {
      cause: signal.reason,
    });
  }

  #end(reason: Error): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }
}
