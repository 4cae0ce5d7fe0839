import type { CoordContext } from '../core/context.js';
import type { WaitOptions } from '../core/deadline.js';
import { withDeadline } from '../core/deadline.js';
import { isOwnerKey, leaseHex, ownerKeyRange } from '../core/keys.js';
import { releaseMarkerKey } from '../core/lock-delay.js';
import type { Session } from '../core/session.js';
import {
  assertName,
  assertOptionalBoolean,
  assertOptionalDuration,
  assertOptionalSignal,
  assertOptions,
  assertValueSize,
} from '../core/validate.js';
import { isLocallyBusy, takeLocalTurn } from './local-queue.js';
import { Lock } from './lock.js';
import { readHolder, type LockHolder } from './holder.js';
import { heldMarkerKey } from '../core/held-marker.js';
import { withCallDeadline, withTryDeadline } from './call-deadline.js';
import { acquire, tryAcquire } from './acquire.js';
import type { QueueSpec } from './queue.js';
import { findHolding, forkHoldings, recordHolding, reenter, runWithHoldings } from './reentrant.js';
import type { ReentrantId } from './reentrant.js';
import { requestRevocation, revokeKeyOf } from './revocation.js';
import { onLiveSession } from './live-session.js';

/** Options of {@link Mutex}. */
export interface LockOptions {
  /** The session whose lease holds the key. Default: the coordinator's current default session. */
  session?: Session | undefined;
  /**
   * Mutex only: lock-delay (Consul's). A waiter that becomes first because the previous holder's lease
   * expired or was revoked — not a clean `unlock()` — waits this long before it is granted (honouring
   * `signal`/`timeoutMs`, and re-checking its key afterwards). A clean unlock hands over at once. Default 0.
   *
   * Every user of the name should set it: with it, `unlock()` also writes the release marker
   * `<name>\0released` that tells a waiter the unlock was clean (so an RBAC role needs that key too); an
   * unlock without it (a mutex without `lockDelayMs`, `etcdctl lock`, Go) counts as an expiry. A `lock()`
   * granted at once, with nobody queued, after a holder that was lost waits too: each grant records its
   * key in `<name>\0held` (no lease; a clean unlock deletes it), so the RBAC role needs that key as well.
   * `tryLock()` records itself but does not wait for it.
   */
  lockDelayMs?: number | undefined;
  /**
   * Mutex only: the value every key of this handle is created with, so `holder()` tells who holds the lock
   * (libkv's `LockOptions.Value`; `kv.lock(key, { value })`). Keys made by `etcdctl lock` or Go stay empty.
   * At most etcd's request limit (1.5 MiB minus the key). Default: empty, as etcd's own mutex.
   */
  value?: string | Buffer | Uint8Array | undefined;
  /**
   * Mutex only: inside `withLock(fn)`, a `lock()`/`tryLock()`/`withLock()` of the same mutex gets a counted
   * handle on the held lock instead of waiting for itself. The scope is `fn` and everything it starts (its
   * promises, timers, callbacks), tracked with `AsyncLocalStorage.run`. Each handle unlocks once; the key is
   * deleted when the last one unlocks, and a loss aborts every handle's signal.
   *
   * Not reentrant: a bare `lock()` opens no scope — a second `lock()` after it in the same function waits
   * (as with any mutex) — because the only way to mark "the rest of the caller" is `enterWith`, which also
   * marks the caller's caller and every sibling task it starts later, so two independent workers would share
   * the lock. Also not reentrant: a call from outside `fn` (another request's handler, a timer set up before),
   * after `withLock` returned, another `Mutex` of the same name with a different `session` option, another
   * coordinator, RW locks and semaphores. A nested call after the lock was lost rejects with the loss.
   * Default false.
   */
  reentrant?: boolean | undefined;
  /**
   * Mutex only: the holder watches `<name>\0revoke` and emits `revokeRequested` on its {@link Lock} when
   * someone calls {@link Mutex.requestRelease} (so an RBAC role needs that key too). Default false.
   */
  revocable?: boolean | undefined;
}

/** A holder value as bytes, checked against etcd's request limit. */
function toHolderValue(value: unknown): Buffer {
  if (typeof value === 'string') value = Buffer.from(value);
  else if (value instanceof Uint8Array && !Buffer.isBuffer(value)) value = Buffer.from(value);
  if (!Buffer.isBuffer(value))
    throw new TypeError('Expected `value` to be a string, a Buffer or a Uint8Array');
  assertValueSize(value, 'value', 256);
  return value;
}

/** Checks `{ signal, timeoutMs }` before any request. */
export function assertWaitOptions(opts: WaitOptions): void {
  assertOptions(opts, 'opts');
  assertOptionalSignal(opts.signal, 'signal');
  assertOptionalDuration(opts.timeoutMs, 'timeoutMs');
}

/**
 * A fair (FIFO by create revision) distributed mutex with fencing tokens, on etcd's own key layout
 * `<name>/<leaseId hex>`: it excludes against `etcdctl lock <name>` and Go's `concurrency.Mutex`.
 *
 * An uncontended `lock()` is one txn (create my key + read the first key by create revision); a waiter
 * waits only for the deletion of the key just older than its own (no thundering herd), on one shared watch
 * per coordinator and lock, so a handoff costs one delete commit plus one watch notification.
 *
 * @example
 * ```ts
 * const m = coord.mutex('jobs/nightly');
 * await m.withLock(async (lock) => runJob({ signal: lock.signal, token: lock.fencingToken }));
 * ```
 *
 * Names: any non-empty string without `\0`. Names nest freely: `jobs` and `jobs/nightly` are independent
 * locks, because only keys that are exactly `<name>/<lease id in lower-case hex>` hold or wait for `<name>`
 * (a nested name's keys, `jobs/nightly/<lease>`, share the prefix but not that shape). A read of a lock
 * whose prefix holds many nested names' keys may page past them.
 *
 * Failure modes: session lost while waiting → `SessionExpiredError` (never a lock held on a dead lease);
 * session lost while holding → `lock.signal` aborts before the server can hand the lock on; a paused
 * process can still act after losing the lock, so protect writes with `lock.guard()` or the fencing token.
 */
export class Mutex {
  /** The lock prefix, relative to the namespace. */
  readonly name: string;
  readonly #ctx: CoordContext;
  readonly #session: Session | undefined;
  readonly #spec: QueueSpec;
  /** Set for a reentrant mutex: which holdings of a context are this lock's. */
  readonly #reentrant: ReentrantId | undefined;

  /**
   * @throws InvalidArgumentError for an empty name or one containing `\0`, before any request
   */
  constructor(ctx: CoordContext, name: string, opts: LockOptions = {}) {
    assertName(name, 'name');
    assertOptions(opts, 'opts');
    assertOptionalDuration(opts.lockDelayMs, 'lockDelayMs');
    assertOptionalBoolean(opts.reentrant, 'reentrant');
    assertOptionalBoolean(opts.revocable, 'revocable');
    const holderValue = opts.value === undefined ? undefined : toHolderValue(opts.value);
    this.name = name;
    this.#ctx = ctx;
    this.#session = opts.session;
    const prefix = ctx.keyspace.prefixRange(`${name}/`);
    // Only `<name>/<lease hex>` holds or waits for this lock: a nested name's keys share the prefix.
    this.#spec = {
      what: `mutex "${name}"`,
      prefix,
      blockers: ownerKeyRange(prefix.key),
      isOwner: (key) => isOwnerKey(key, prefix.key),
      limit: 1,
      // Only with a lock-delay: the marker lies outside `<name>/`, so the unlock txn of a mutex without
      // one stays exactly etcd's (and needs no RBAC grant beyond the prefix).
      releaseMarker: opts.lockDelayMs ? releaseMarkerKey(ctx.keyspace.key(name)) : undefined,
      heldMarker: opts.lockDelayMs ? heldMarkerKey(ctx.keyspace.key(name)) : undefined,
      lockDelayMs: opts.lockDelayMs,
      holderValue,
      revokeKey: opts.revocable ? revokeKeyOf(ctx.keyspace.key(name)) : undefined,
    };
    this.#reentrant = opts.reentrant ? { ctx, name, session: opts.session } : undefined;
  }

  /**
   * Waits for the lock, in FIFO order.
   *
   * @throws LockTimeoutError after `timeoutMs`; AbortedError when `signal` aborts; SessionExpiredError when
   *   the session is lost while waiting (also while waiting behind another caller of this process on the
   *   same session and name); LockLostError if the waiter key is deleted by someone else. The
   *   waiter key is removed in every case.
   */
  lock(opts: WaitOptions = {}): Promise<Lock> {
    try {
      assertWaitOptions(opts);
      opts.signal?.throwIfAborted();
      // Synchronously, at the call: a sibling granted later is not this call's holder.
      const held = this.#reentrant && findHolding(this.#reentrant);
      if (held) return Promise.resolve(reenter(held));
      return this.#lock(opts);
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  async #lock(opts: WaitOptions): Promise<Lock> {
    return withCallDeadline(opts, this.#spec.what, (signal) =>
      onLiveSession(this.#ctx, this.#session, signal, async (session) => {
        const key = this.#keyFor(session);
        // The turn also ends with the session: a holder on a lost session may never unlock, and a caller
        // behind it must see the loss, not wait out its deadline (or for ever).
        const turnSignal = withDeadline(signal, undefined, session.signal);
        let release: () => void;
        try {
          release = await takeLocalTurn(key.toString('hex'), turnSignal.signal, this.#spec.what);
        } finally {
          turnSignal.dispose();
        }
        const granted = await acquire(this.#ctx, this.#spec, key, session, { signal, onGone: release });
        return new Lock(this.#ctx, this.#spec, granted);
      }),
    );
  }

  /**
   * Takes the lock if nobody holds or waits for it; never waits. Settles within the coordinator's
   * `requestTimeoutMs` (plus at most a second to remove a refused key) even when etcd is unreachable,
   * counted from the call: renewing a lost default session is part of it.
   *
   * @returns the lock, or `null` when it is taken (also by another caller in this process on this session)
   * @throws UnavailableError when etcd does not answer within the request deadline
   */
  async tryLock(): Promise<Lock | null> {
    const held = this.#reentrant && findHolding(this.#reentrant);
    if (held) return reenter(held);
    return this.#tryLock();
  }

  #tryLock(): Promise<Lock | null> {
    return withTryDeadline(this.#ctx, (signal) =>
      onLiveSession(this.#ctx, this.#session, signal, async (session) => {
        const key = this.#keyFor(session);
        const id = key.toString('hex');
        if (isLocallyBusy(id)) return null;
        const release = await takeLocalTurn(id, undefined, this.#spec.what);
        const granted = await tryAcquire(this.#ctx, this.#spec, key, session, { onGone: release, signal });
        return granted ? new Lock(this.#ctx, this.#spec, granted) : null;
      }),
    );
  }

  /**
   * Runs `fn` while holding the lock and unlocks afterwards, whatever happens. `fn` gets the lock; stop
   * when `lock.signal` aborts. `timeoutMs` bounds the wait for the lock, not `fn`.
   *
   * A release is never swallowed: when `fn` succeeds but the unlock is not confirmed, `withLock` rejects
   * with the unlock's `UnavailableError` (the release goes on in the background while the session lives).
   * When `fn` throws, `withLock` rejects with `fn`'s error if the unlock succeeded, and with an
   * `AggregateError` of `[fn's error, the unlock's error]` if it failed too.
   *
   * @throws whatever {@link lock} or `fn` throws; the unlock's error as described above
   */
  async withLock<T>(fn: (lock: Lock) => Promise<T> | T, opts: WaitOptions = {}): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError('Expected `fn` to be a function');
    assertWaitOptions(opts);
    opts.signal?.throwIfAborted();
    let lock: Lock;
    let run = (): Promise<T> | T => fn(lock);
    const id = this.#reentrant;
    const held = id && findHolding(id);
    if (held) lock = reenter(held);
    else if (id) {
      // Not entered into the caller's context: only `fn` (and what it starts) shares this lock.
      const holdings = forkHoldings();
      lock = recordHolding(holdings, id, await this.#lock(opts));
      run = () => runWithHoldings(holdings, () => fn(lock));
    } else lock = await this.#lock(opts);
    let result: T;
    try {
      result = await run();
    } catch (err) {
      const unlockErr = await lock.unlock().then(
        () => undefined,
        (e: unknown) => e,
      );
      if (unlockErr === undefined) throw err;
      throw new AggregateError(
        [err, unlockErr],
        `${this.#spec.what}: fn failed, and the unlock is not confirmed`,
        {
          cause: err,
        },
      );
    }
    await lock.unlock();
    return result;
  }

  /**
   * The current holder (the key with the lowest create revision), or `null` when the lock is free.
   *
   * @throws UnavailableError when etcd cannot be reached
   */
  async holder(opts: { signal?: AbortSignal } = {}): Promise<LockHolder | null> {
    assertOptions(opts, 'opts');
    assertOptionalSignal(opts.signal, 'signal');
    return readHolder(this.#ctx, this.#spec, opts.signal);
  }

  /**
   * Asks the current holder to release (Curator's `Revoker`): writes `<name>\0revoke` with the holder's
   * fencing token, under the holder's lease and guarded by its key, so the request never reaches a later
   * holder. A holder whose mutex is `revocable` gets a `revokeRequested` event on its `Lock` and decides;
   * nothing is released by the request, and its unlock deletes it. A holder that is not revocable (or
   * `etcdctl lock`, Go) never reads it: it stays until that holder's lease ends, and no later holder acts
   * on it (it names the asked holder's token). The forcible path is the CLI's `lock --break`.
   *
   * @example
   * ```ts
   * const asked = await coord.mutex('jobs/nightly').requestRelease();
   * // holder: coord.mutex('jobs/nightly', { revocable: true }); lock.on('revokeRequested', () => stopSoon());
   * ```
   *
   * @returns the holder asked, or `null` when the lock is free
   * @throws UnavailableError when etcd cannot be reached; AbortedError when `signal` aborts
   */
  async requestRelease(opts: { signal?: AbortSignal } = {}): Promise<LockHolder | null> {
    assertOptions(opts, 'opts');
    assertOptionalSignal(opts.signal, 'signal');
    const key = revokeKeyOf(this.#ctx.keyspace.key(this.name));
    const read = async () => {
      const h = await this.holder(opts);
      return h && { ...h, etcdKey: this.#ctx.keyspace.key(h.key) };
    };
    const asked = await requestRevocation(this.#ctx, this.#spec.what, key, read, opts.signal);
    if (!asked) return null;
    const { etcdKey: _, ...holder } = asked;
    return holder;
  }

  #keyFor(session: Session): Buffer {
    return this.#ctx.keyspace.key(`${this.name}/${leaseHex(session.leaseId)}`);
  }
}
