import type { CoordContext } from '../core/context.js';
import { withDeadline, type WaitOptions } from '../core/deadline.js';
import { InvalidArgumentError } from '../core/errors.js';
import { isOwnerKey, leaseHex, ownerKeyRange } from '../core/keys.js';
import { isLocallyBusy, takeLocalTurn } from '../core/local-turn.js';
import type { Session } from '../core/session.js';
import { assertName, assertOptions } from '../core/validate.js';
import { withCallDeadline, withTryDeadline } from './call-deadline.js';
import { onLiveSession } from './live-session.js';
import { Lock } from './lock.js';
import { acquireAll, type MultiPart } from './multi-acquire.js';
import { MultiLockHandle } from './multi-lock-handle.js';
import { assertWaitOptions } from './mutex.js';
import type { QueueSpec } from './queue.js';

/** Options of {@link MultiLock}. */
export interface MultiLockOptions {
  /** The session whose lease holds the keys. Default: the coordinator's current default session. */
  session?: Session | undefined;
}

/**
 * Most names one multi-lock takes: its enqueue txn holds two operations per name, and etcd refuses a txn
 * of more than `--max-txn-ops` (default 128).
 */
export const MAX_MULTI_LOCK_NAMES = 64;

/** Checks `names` before any request: a non-empty array of distinct lock names. Returns them sorted. */
function sortedNames(names: unknown): string[] {
  if (!Array.isArray(names))
    throw new TypeError(`Expected \`names\` to be an array of lock names, got ${typeof names}`);
  if (names.length === 0) throw new InvalidArgumentError('Expected `names` to hold at least one lock name');
  if (names.length > MAX_MULTI_LOCK_NAMES)
    throw new InvalidArgumentError(
      `Expected \`names\` to hold at most ${MAX_MULTI_LOCK_NAMES} lock names (etcd's --max-txn-ops), got ${names.length}`,
    );
  names.forEach((n, i) => assertName(n, `names[${i}]`));
  const sorted = [...(names as string[])].sort();
  const dup = sorted.find((n, i) => i > 0 && sorted[i - 1] === n);
  if (dup !== undefined)
    throw new InvalidArgumentError(`Expected \`names\` to be distinct, got ${JSON.stringify(dup)} twice`);
  return sorted;
}

/**
 * Several mutexes taken all-or-nothing: {@link lock} holds every name or none, without deadlock, however
 * the names of concurrent multi-locks overlap or are ordered. (Curator's `InterProcessMultiLock` locks in
 * sequence and backs out; this enqueues in every queue at once.)
 *
 * Each attempt creates the key `<name>/<leaseId hex>` of every name (sorted, distinct) in ONE txn, so all
 * its keys share one create revision, then waits until it is first in every queue, watching only its
 * predecessors (no polling). Waiting for a key older than one's own is a total order on revisions, so no
 * cycle of waiters can form. The key layout is the mutex's own: a multi-lock excludes against
 * `coord.mutex(name)`, `etcdctl lock <name>` and Go's `concurrency.Mutex` on each name.
 *
 * @example
 * ```ts
 * const both = coord.multiLock(['accounts/alice', 'accounts/bob']);
 * await both.withLock(async (held) => transfer(held.signal), { timeoutMs: 10_000 });
 * ```
 *
 * Failure modes: as {@link Mutex}: session lost while waiting → `SessionExpiredError`; a lock lost while
 * held → the handle's `signal` aborts. A waiter queued in every name holds none of them yet, but it does
 * sit ahead of later waiters in each queue (FIFO per name). No lock-delay, value or revocation options:
 * a lock-delay mutex on one of the names counts a multi-lock's unlock as an expiry (it writes no marker).
 */
export class MultiLock {
  /** The lock names, sorted. */
  readonly names: readonly string[];
  readonly #ctx: CoordContext;
  readonly #session: Session | undefined;
  readonly #specs: readonly QueueSpec[];
  readonly #what: string;

  /**
   * @throws TypeError when `names` is not an array; InvalidArgumentError when it is empty, longer than
   *   {@link MAX_MULTI_LOCK_NAMES}, holds an empty name, a NUL byte or the same name twice — before any request
   */
  constructor(ctx: CoordContext, names: readonly string[], opts: MultiLockOptions = {}) {
    this.names = sortedNames(names);
    assertOptions(opts, 'opts');
    this.#ctx = ctx;
    this.#session = opts.session;
    this.#what = `multiLock ${JSON.stringify(this.names)}`;
    this.#specs = this.names.map((name) => {
      const prefix = ctx.keyspace.prefixRange(`${name}/`);
      // Exactly a mutex's queue (see mutex.ts), without its options.
      return {
        what: `mutex "${name}" (${this.#what})`,
        prefix,
        blockers: ownerKeyRange(prefix.key),
        isOwner: (key: Buffer) => isOwnerKey(key, prefix.key),
        limit: 1,
      };
    });
  }

  /**
   * Waits until every lock is held, in FIFO order on each name.
   *
   * @example
   * ```ts
   * const held = await coord.multiLock(['a', 'b', 'c']).lock({ timeoutMs: 5000 });
   * ```
   *
   * @throws LockTimeoutError after `timeoutMs`; AbortedError when `signal` aborts; SessionExpiredError
   *   when the session is lost while waiting; LockLostError if a waiter key is deleted by someone else.
   *   Every waiter key is removed in each case: nothing is held.
   */
  lock(opts: WaitOptions = {}): Promise<MultiLockHandle> {
    try {
      assertWaitOptions(opts);
      opts.signal?.throwIfAborted();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return withCallDeadline(opts, this.#what, (signal) =>
      onLiveSession(this.#ctx, this.#session, signal, async (session) => {
        const keys = this.#keysFor(session);
        // The in-process turns (one key per session and name), taken in sorted order: no cycle in process.
        const turns: (() => void)[] = [];
        const turnSignal = withDeadline(signal, undefined, session.signal);
        try {
          for (const key of keys)
            turns.push(await takeLocalTurn(key.toString('hex'), turnSignal.signal, this.#what));
        } catch (err) {
          for (const release of turns) release();
          throw err;
        } finally {
          turnSignal.dispose();
        }
        const parts = this.#parts(keys, turns);
        const grants = await acquireAll(this.#ctx, this.#what, parts, session, { signal, mode: 'wait' });
        return this.#handle(grants!);
      }),
    );
  }

  /**
   * Takes every lock if nobody holds or waits for any of them; never waits. Settles within the
   * coordinator's `requestTimeoutMs` (plus at most a second to remove refused keys).
   *
   * @example
   * ```ts
   * const held = await coord.multiLock(['a', 'b']).tryLock();
   * if (held) await using _ = held;
   * ```
   *
   * @returns the handle, or `null` when any name is taken (also by another caller of this process on
   *   this session)
   * @throws UnavailableError when etcd does not answer within the request deadline
   */
  tryLock(): Promise<MultiLockHandle | null> {
    return withTryDeadline(this.#ctx, (signal) =>
      onLiveSession(this.#ctx, this.#session, signal, async (session) => {
        const keys = this.#keysFor(session);
        const ids = keys.map((k) => k.toString('hex'));
        if (ids.some(isLocallyBusy)) return null;
        // Free right now: every turn is taken in this tick, before another caller can queue for one.
        const turns = await Promise.all(ids.map((id) => takeLocalTurn(id, undefined, this.#what)));
        const parts = this.#parts(keys, turns);
        const grants = await acquireAll(this.#ctx, this.#what, parts, session, { signal, mode: 'try' });
        return grants ? this.#handle(grants) : null;
      }),
    );
  }

  /**
   * Runs `fn` while holding every lock and unlocks all afterwards, whatever happens; `fn` should stop when
   * `held.signal` aborts. `timeoutMs` bounds the wait for the locks, not `fn`.
   *
   * @example
   * ```ts
   * await coord.multiLock(['a', 'b']).withLock(async (held) => work(held.signal));
   * ```
   *
   * @throws whatever {@link lock} or `fn` throws; when the unlock is not confirmed, its `UnavailableError`
   *   (after `fn` succeeded) or an `AggregateError` of `[fn's error, the unlock's error]`
   */
  async withLock<T>(fn: (held: MultiLockHandle) => Promise<T> | T, opts: WaitOptions = {}): Promise<T> {
    if (typeof fn !== 'function') throw new TypeError('Expected `fn` to be a function');
    const held = await this.lock(opts);
    let result: T;
    try {
      result = await fn(held);
    } catch (err) {
      const unlockErr = await held.unlock().then(
        () => undefined,
        (e: unknown) => e,
      );
      if (unlockErr === undefined) throw err;
      throw new AggregateError(
        [err, unlockErr],
        `${this.#what}: fn failed, and the unlock is not confirmed`,
        {
          cause: err,
        },
      );
    }
    await held.unlock();
    return result;
  }

  #keysFor(session: Session): Buffer[] {
    return this.names.map((name) => this.#ctx.keyspace.key(`${name}/${leaseHex(session.leaseId)}`));
  }

  #parts(keys: Buffer[], turns: (() => void)[]): MultiPart[] {
    return keys.map((key, i) => ({ spec: this.#specs[i]!, key, onGone: turns[i]! }));
  }

  #handle(grants: NonNullable<Awaited<ReturnType<typeof acquireAll>>>): MultiLockHandle {
    const locks = new Map(grants.map((g, i) => [this.names[i]!, new Lock(this.#ctx, this.#specs[i]!, g)]));
    return new MultiLockHandle(this.#what, locks);
  }
}
