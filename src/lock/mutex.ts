import { SortOrder, SortTarget } from 'etcd3';
import type { CoordContext } from '../core/context.js';
import type { WaitOptions } from '../core/deadline.js';
import { leaseHex } from '../core/keys.js';
import type { Session } from '../core/session.js';
import { assertName, assertOptionalDuration, assertOptionalSignal } from '../core/validate.js';
import { isLocallyBusy, takeLocalTurn } from './local-queue.js';
import { Lock } from './lock.js';
import { acquire, tryAcquire, type QueueSpec } from './queue.js';

/** Options of {@link Mutex}. */
export interface LockOptions {
  /** The session whose lease holds the key. Default: the coordinator's current default session. */
  session?: Session | undefined;
  /** A waiter that becomes first because the previous holder's lease expired or was revoked (not a clean unlock) waits this long before it is granted. Default 0. */
  lockDelayMs?: number | undefined;
}

/** Who holds a lock right now. */
export interface LockHolder {
  /** The holder's key, relative to the coordinator's namespace. */
  key: string;
  fencingToken: bigint;
  leaseId: bigint;
}

/** Checks `{ signal, timeoutMs }` before any request. */
export function assertWaitOptions(opts: WaitOptions): void {
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
 * Failure modes: session lost while waiting → `SessionExpiredError` (never a lock held on a dead lease);
 * session lost while holding → `lock.signal` aborts before the server can hand the lock on; a paused
 * process can still act after losing the lock, so protect writes with `lock.guard()` or the fencing token.
 */
export class Mutex {
  readonly name: string;
  readonly #ctx: CoordContext;
  readonly #session: Session | undefined;
  readonly #spec: QueueSpec;

  /**
   * @throws InvalidArgumentError for an empty name or one containing `\0`, before any request
   */
  constructor(ctx: CoordContext, name: string, opts: LockOptions = {}) {
    assertName(name, 'name');
    this.name = name;
    this.#ctx = ctx;
    this.#session = opts.session;
    const prefix = ctx.keyspace.prefixRange(`${name}/`);
    this.#spec = { what: `mutex "${name}"`, prefix, blockers: prefix, limit: 1 };
  }

  /**
   * Waits for the lock, in FIFO order.
   *
   * @throws LockTimeoutError after `timeoutMs`; AbortedError when `signal` aborts; SessionExpiredError when
   *   the session is lost while waiting; LockLostError if the waiter key is deleted by someone else. The
   *   waiter key is removed in every case.
   */
  async lock(opts: WaitOptions = {}): Promise<Lock> {
    assertWaitOptions(opts);
    opts.signal?.throwIfAborted();
    const session = await this.#sessionFor(opts.signal);
    const key = this.#keyFor(session);
    const release = await takeLocalTurn(key.toString('hex'), opts.signal, this.#spec.what);
    try {
      const granted = await acquire(this.#ctx, this.#spec, key, session, opts);
      return new Lock(this.#ctx, this.#spec, granted, release);
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * Takes the lock if nobody holds or waits for it; never waits.
   *
   * @returns the lock, or `null` when it is taken (also by another caller in this process on this session)
   */
  async tryLock(): Promise<Lock | null> {
    const session = await this.#sessionFor(undefined);
    const key = this.#keyFor(session);
    const id = key.toString('hex');
    if (isLocallyBusy(id)) return null;
    const release = await takeLocalTurn(id, undefined, this.#spec.what);
    try {
      const granted = await tryAcquire(this.#ctx, this.#spec, key, session);
      if (!granted) {
        release();
        return null;
      }
      return new Lock(this.#ctx, this.#spec, granted, release);
    } catch (err) {
      release();
      throw err;
    }
  }

  /**
   * Runs `fn` while holding the lock and unlocks afterwards, whatever happens. `fn` gets the lock; stop
   * when `lock.signal` aborts.
   *
   * @throws whatever {@link lock} or `fn` throws
   */
  async withLock<T>(fn: (lock: Lock) => Promise<T> | T, opts: WaitOptions = {}): Promise<T> {
    const lock = await this.lock(opts);
    try {
      return await fn(lock);
    } finally {
      await lock.unlock().catch(() => undefined);
    }
  }

  /**
   * The current holder (the key with the lowest create revision), or `null` when the lock is free.
   *
   * @throws UnavailableError when etcd cannot be reached
   */
  async holder(opts: { signal?: AbortSignal } = {}): Promise<LockHolder | null> {
    const { key, end } = this.#spec.prefix;
    const res = await this.#ctx.requester.run(
      `${this.#spec.what}: holder`,
      (o) =>
        this.#ctx.client.kv.range(
          {
            key,
            range_end: end,
            limit: 1,
            sort_target: SortTarget.Create,
            sort_order: SortOrder.Ascend,
            keys_only: true,
          },
          o,
        ),
      { signal: opts.signal },
    );
    const kv = res.kvs[0];
    if (!kv) return null;
    return {
      key: this.#ctx.keyspace.strip(kv.key).toString(),
      fencingToken: BigInt(kv.create_revision),
      leaseId: BigInt(kv.lease),
    };
  }

  #sessionFor(signal: AbortSignal | undefined): Promise<Session> {
    if (this.#session) {
      this.#session.throwIfDone();
      return Promise.resolve(this.#session);
    }
    return this.#ctx.currentSession({ signal });
  }

  #keyFor(session: Session): Buffer {
    return this.#ctx.keyspace.key(`${this.name}/${leaseHex(session.leaseId)}`);
  }
}
