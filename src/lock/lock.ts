import type { ICompare } from 'etcd3';
import { EventEmitter } from 'eventemitter3';
import type { CoordContext } from '../core/context.js';
import type { Session } from '../core/session.js';
import { AbortedError, LockLostError, PermissionDeniedError } from '../core/errors.js';
import { headerRevision } from '../core/kv.js';
import { acquirePrefixWatch, type PrefixWatch } from './prefix-watch.js';
import { heldKeyLost, keyRelease } from './lock-key.js';
import { assertOptionalDuration, assertOptionalSignal, assertOptions } from '../core/validate.js';
import { releaseMarkerOp } from '../core/lock-delay.js';
import { clearHolderOp } from '../core/held-marker.js';
import type { Release, ReleaseRunOptions } from '../core/release.js';
import type { Granted, QueueSpec } from './queue.js';
import { watchRevocation } from './revocation.js';

/** Events of a {@link Lock}. */
export interface LockEvents {
  /**
   * Someone asked this holder to release (`mutex.requestRelease()`, a mutex with `revocable: true`). The
   * holder decides: nothing is released by the request itself. Emitted at most once per lock.
   */
  revokeRequested: [];
}

/**
 * A second handle on a lock held already (a reentrant mutex's nested `lock()`, see `reentrant.ts`): it
 * shares the key, token and loss of `of`, and its `unlock()` only gives up this handle's count.
 */
export interface SharedHold {
  readonly of: Lock;
  /** This handle's unlock; `first` is true for its first call. */
  unlock(opts: ReleaseRunOptions, first: boolean): Promise<void>;
}

/**
 * The comparator a guarded write adds to its txn: "the lock key still exists with my create revision".
 * Spread it into `etcd3`'s builder: `client.if(...lock.guard())`, or `.and(...lock.guard())`.
 */
export type LockGuard = readonly [key: Buffer, column: 'Create', cmp: '==', value: string];

/**
 * A held lock (a mutex, a read or write lock, or a semaphore permit). Its key lives under the session's
 * lease; `unlock()` deletes it, only if it is still this holder's key.
 *
 * @example
 * ```ts
 * await using lock = await coord.mutex('jobs/nightly').lock();
 * await coord.client.if(...lock.guard()).then(coord.client.put(coord.keyspace.key('out')).value('x')).commit();
 * ```
 *
 * Failure modes: `signal` aborts with `LockLostError` when the session's lease is (or may be) lost, or
 * when the key is deleted or replaced by someone else; from then on guarded writes fail. A fencing token
 * only protects writes that check it (through `guard()` in etcd, or a token check in the resource).
 */
export class Lock extends EventEmitter<LockEvents> {
  /** The lock key, relative to the coordinator's namespace (e.g. `jobs/nightly/694d7a3b1c2e0f04`). */
  readonly key: string;
  /** The full etcd key (namespace included), as used in comparisons. */
  readonly etcdKey: Buffer;
  /**
   * The create revision of the lock key: strictly greater for every later holder of the same lock, within
   * one etcd store history. Revisions start over when etcd is restarted with empty data or restored from
   * an older snapshot, so a later holder's token can then be smaller: a resource that keeps a high-water
   * mark must reset it on the watch hub's `reset` event (or a `StoreResetError`).
   */
  readonly fencingToken: bigint;
  /** The session lease the key is attached to. */
  readonly leaseId: bigint;
  readonly #ctx: CoordContext;
  readonly #what: string;
  readonly #controller = new AbortController();
  readonly #untrack: () => void;
  readonly #gone: () => void;
  readonly #spec: QueueSpec;
  readonly #session: Session;
  #watch: PrefixWatch;
  #release: Release | undefined;
  readonly #granted: Granted;
  readonly #shared: SharedHold | undefined;
  #unlocked = false;
  #detached = false;
  #revokeRequested = false;
  #stopRevocation: () => void = () => undefined;

  /** @internal made by the lock recipes */
  constructor(ctx: CoordContext, spec: QueueSpec, granted: Granted, shared?: SharedHold) {
    super();
    this.#granted = granted;
    this.#shared = shared;
    this.#ctx = ctx;
    this.#spec = spec;
    this.#what = spec.what;
    this.etcdKey = granted.key;
    this.key = ctx.keyspace.strip(granted.key).toString();
    this.fencingToken = granted.createRevision;
    this.leaseId = granted.session.leaseId;
    this.#watch = granted.watch;
    this.#gone = granted.gone;
    const session = granted.session;
    this.#session = session;
    if (shared) {
      // A handle: the lock it shares is tracked, monitored and released by its own Lock.
      this.#untrack = () => undefined;
      const of = shared.of;
      const follow = () => this.#lose(of.signal.reason as LockLostError);
      if (of.signal.aborted) follow();
      else of.signal.addEventListener('abort', follow, { once: true });
      if (of.revokeRequested) this.#revokeRequested = true;
      else of.once('revokeRequested', () => this.#onRevokeRequested());
      return;
    }
    this.#untrack = ctx.track(this);
    const onLost = () =>
      this.#lose(
        new LockLostError(`${this.#what}: the session's lease was lost`, { cause: session.signal.reason }),
      );
    if (session.signal.aborted) onLost();
    else {
      session.signal.addEventListener('abort', onLost, { once: true });
      this.#controller.signal.addEventListener(
        'abort',
        () => session.signal.removeEventListener('abort', onLost),
        { once: true },
      );
    }
    void this.#monitor();
    if (spec.revokeKey) {
      this.#stopRevocation = watchRevocation(ctx, spec.revokeKey, this, () => this.#onRevokeRequested());
      this.#controller.signal.addEventListener('abort', () => this.#stopRevocation(), { once: true });
    }
  }

  /** True once a release was requested of this holder (see {@link LockEvents.revokeRequested}). */
  get revokeRequested(): boolean {
    return this.#revokeRequested;
  }

  /**
   * Another handle on this same lock (a reentrant mutex's nested `lock()`): the same key and token, a
   * signal of its own that also aborts when this lock is lost.
   *
   * @internal
   */
  share(unlock: SharedHold['unlock']): Lock {
    return new Lock(this.#ctx, this.#spec, this.#granted, { of: this, unlock });
  }

  #onRevokeRequested(): void {
    if (this.#revokeRequested || !this.held) return;
    this.#revokeRequested = true;
    this.emit('revokeRequested');
  }

  /** Aborted (with `LockLostError`) when the lock is lost, or (with `AbortedError`) once it is unlocked. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True until the lock is unlocked or known to be lost. */
  get held(): boolean {
    return !this.#controller.signal.aborted;
  }

  /**
   * The `etcd3` comparator "I still hold it", for guarded txns.
   *
   * @example
   * ```ts
   * const res = await coord.client.if(...lock.guard()).then(coord.client.put(coord.keyspace.key('counter')).value('7')).commit();
   * if (!res.succeeded) throw new Error('lost the lock: write refused');
   * ```
   */
  guard(): LockGuard {
    return [this.etcdKey, 'Create', '==', this.fencingToken.toString()];
  }

  /** The same condition as {@link guard} as a raw `Compare`, for `client.kv.txn({ compare: [...] })`. */
  guardCompare(): ICompare {
    return {
      key: this.etcdKey,
      target: 'Create',
      result: 'Equal',
      create_revision: this.fencingToken.toString(),
    };
  }

  /**
   * Releases the lock: deletes the key only if it still has this holder's create revision, so a retried
   * or late unlock never deletes a newer holder's key (etcd#22082). `signal` aborts at the first call.
   *
   * Safe to call again after a failure: the delete is retried in the background (back-off ≤ 1 s) for as
   * long as the session lives, so once etcd is reachable again the key goes within about a second plus
   * one request timeout, without closing the coordinator. Each call resolves once the delete is confirmed.
   * Until then, further `lock()` calls on this name and session wait in process (the key is still there).
   *
   * `timeoutMs` (default: the coordinator's `requestTimeoutMs`) and `signal` bound only this call's wait;
   * the release goes on in the background either way.
   *
   * @throws UnavailableError when the delete is not confirmed within `timeoutMs` or after three attempts
   * @throws AbortedError when `signal` aborts first
   */
  unlock(opts: ReleaseRunOptions = {}): Promise<void> {
    try {
      assertOptions(opts, 'opts');
      assertOptionalSignal(opts.signal, 'signal');
      assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
    } catch (err) {
      return Promise.reject(err as Error);
    }
    if (this.#detached) return Promise.resolve();
    if (this.#shared) {
      const first = !this.#unlocked;
      this.#unlocked = true;
      if (!this.#controller.signal.aborted)
        this.#controller.abort(new AbortedError(`${this.#what}: unlocked`));
      return this.#shared.unlock(opts, first);
    }
    if (!this.#release) {
      this.#untrack();
      if (!this.#controller.signal.aborted)
        this.#controller.abort(new AbortedError(`${this.#what}: unlocked`));
      // A lost session still gets one attempt (Release's rule): the key may outlive our view of the lease.
      this.#release = keyRelease(
        this.#ctx,
        this.etcdKey,
        this.fencingToken,
        `${this.#what}: unlock`,
        this.#session,
        () => {
          this.#watch.release();
          this.#gone();
        },
        // Tells a lock-delay waiter this was a clean unlock, not an expiry (core/lock-delay.ts).
        [
          ...(this.#spec.releaseMarker
            ? [releaseMarkerOp(this.#spec.releaseMarker, this.etcdKey, this.leaseId)]
            : []),
          // A newcomer then knows this holder is gone cleanly (held-marker.ts).
          ...(this.#spec.heldMarker ? [clearHolderOp(this.#spec.heldMarker)] : []),
          // A request to release this holder ends with it (it names this holder's token anyway).
          ...(this.#spec.revokeKey ? [{ request_delete_range: { key: this.#spec.revokeKey } }] : []),
        ],
        this.#granted.extraKeys,
      );
    }
    return this.#release.run({
      signal: opts.signal,
      timeoutMs: opts.timeoutMs ?? this.#ctx.requester.requestTimeoutMs,
    });
  }

  /** Same as {@link unlock}. */
  release(opts: ReleaseRunOptions = {}): Promise<void> {
    return this.unlock(opts);
  }

  /** Same as {@link unlock} (called by `coord.close()`). */
  close(): Promise<void> {
    return this.unlock().catch(() => undefined);
  }

  /** Unlocks, for `await using`: the same as {@link Lock.unlock}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.unlock();
  }

  /**
   * Ends this handle without deleting its keys and hands its grant (keys, shared watch, in-process holds)
   * to the caller, which now owns their release: an RW write lock's downgrade (`downgrade.ts`). Aborts
   * `signal` with `reason`; `unlock()` then resolves at once. `undefined` when the lock is lost or
   * already released (nothing is handed over).
   *
   * @internal
   */
  detach(reason: Error): Granted | undefined {
    if (this.#shared || this.#release || this.#detached || !this.held) return undefined;
    this.#detached = true;
    this.#untrack();
    this.#controller.abort(reason);
    return this.#granted;
  }

  #lose(err: LockLostError): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(err);
  }

  /** Watches the own key on the shared prefix watch: deleted or replaced means lost. Never rejects. */
  async #monitor(): Promise<void> {
    let after = this.fencingToken;
    const signal = this.#controller.signal;
    while (!signal.aborted) {
      try {
        // Any key of the acquisition (a multi-permit semaphore's, a write lock's companion) gone is a loss.
        const keys = [this.etcdKey, ...this.#granted.extraKeys];
        await Promise.race(keys.map((k) => this.#watch.watch.waitForDelete(k, after, signal)));
        this.#lose(await heldKeyLost(this.#ctx, this.#what, this.leaseId));
        return;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof PermissionDeniedError)
          return this.#lose(new LockLostError(`${this.#what}: cannot watch the lock key`, { cause: err }));
        // The watch broke: open a fresh one, then check the key is still mine at a revision after it.
        try {
          this.#watch.retire();
          const next = await acquirePrefixWatch(this.#ctx, this.#spec.prefix, signal);
          this.#watch.release();
          this.#watch = next;
          const keys = [this.etcdKey, ...this.#granted.extraKeys];
          const res = await this.#ctx.requester.run(
            `${this.#what}: check lock key`,
            (o) =>
              this.#ctx.client.kv.txn(
                { compare: [], success: keys.map((key) => ({ request_range: { key } })), failure: [] },
                o,
              ),
            { signal },
          );
          const mine = res.responses.every((r) => {
            const kv = r.response_range?.kvs[0];
            return kv !== undefined && BigInt(kv.create_revision) === this.fencingToken;
          });
          if (!mine) return this.#lose(await heldKeyLost(this.#ctx, this.#what, this.leaseId));
          after = headerRevision(res.header);
        } catch {
          if (signal.aborted) return;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
  }
}
