import type { CoordContext } from '../core/context.js';
import type { WaitOptions } from '../core/deadline.js';
import type { Session } from '../core/session.js';
import { assertInteger, assertName } from '../core/validate.js';
import { Lock } from './lock.js';
import { onLiveSession } from './live-session.js';
import { withCallDeadline, withTryDeadline } from './call-deadline.js';
import { assertWaitOptions, type LockOptions } from './mutex.js';
import { UNIQUE_SUFFIX, uniqueSuffix } from './lock-key.js';
import { isOwnerKey, ownerKeyRange } from '../core/keys.js';
import { acquire, tryAcquire } from './acquire.js';
import type { QueueSpec } from './queue.js';

/**
 * A fair counting semaphore: at most `permits` holders at once, granted in FIFO order by create revision.
 * Each permit is a key `<name>/<leaseHex>_<random>` under the holder's session lease, so the permits of a
 * dead session are freed when its lease expires. Every user of one name must agree on `permits`.
 *
 * Names: as {@link Mutex}, except that a semaphore named like an RW lock plus `/read` or `/write`
 * (`semaphore('db/read')` next to `rwMutex('db')`) shares that lock's reader or writer keys
 * (`db/read/<leaseHex>_<random>`) and the two block each other. Do not name a lock so; it is not checked
 * (neither constructor knows the other name).
 *
 * @example
 * ```ts
 * const sem = coord.semaphore('pool/db', 4);
 * await using permit = await sem.acquire({ timeoutMs: 10_000 });
 * await query({ signal: permit.signal });
 * ```
 *
 * Failure modes: as {@link Mutex}. A waiter waits for the deletion of any of the `permits` keys just older
 * than its own, then re-counts; a permit's `signal` aborts when its session is lost.
 */
export class Semaphore {
  /** The semaphore prefix, relative to the namespace. */
  readonly name: string;
  /** How many holders it admits at once. */
  readonly permits: number;
  readonly #ctx: CoordContext;
  readonly #session: Session | undefined;
  readonly #spec: QueueSpec;

  /** @throws InvalidArgumentError for a bad name or `permits` < 1, before any request */
  constructor(ctx: CoordContext, name: string, permits: number, opts: LockOptions = {}) {
    assertName(name, 'name');
    assertInteger(permits, 'permits', 1, 1_000_000);
    this.name = name;
    this.permits = permits;
    this.#ctx = ctx;
    this.#session = opts.session;
    const prefix = ctx.keyspace.prefixRange(`${name}/`);
    this.#spec = {
      what: `semaphore "${name}"`,
      prefix,
      blockers: ownerKeyRange(prefix.key),
      // Only `<name>/<lease hex>_<random>` is a permit of this semaphore, never a nested name's key.
      isOwner: (key) => isOwnerKey(key, prefix.key, UNIQUE_SUFFIX),
      limit: permits,
    };
  }

  /**
   * Waits for a permit. Release it with `permit.release()` (or `await using`).
   *
   * @throws LockTimeoutError, AbortedError, SessionExpiredError, LockLostError as {@link Mutex.lock}
   */
  async acquire(opts: WaitOptions = {}): Promise<Lock> {
    assertWaitOptions(opts);
    opts.signal?.throwIfAborted();
    return withCallDeadline(opts, this.#spec.what, (signal) =>
      onLiveSession(this.#ctx, this.#session, signal, async (session) => {
        const granted = await acquire(this.#ctx, this.#spec, this.#keyFor(session), session, { signal });
        return new Lock(this.#ctx, this.#spec, granted);
      }),
    );
  }

  /** A permit if one is free and nobody older waits, else `null`. */
  async tryAcquire(): Promise<Lock | null> {
    return withTryDeadline(this.#ctx, (signal) =>
      onLiveSession(this.#ctx, this.#session, signal, async (session) => {
        const granted = await tryAcquire(this.#ctx, this.#spec, this.#keyFor(session), session, { signal });
        return granted ? new Lock(this.#ctx, this.#spec, granted) : null;
      }),
    );
  }

  #keyFor(session: Session): Buffer {
    return this.#ctx.keyspace.key(`${this.name}/${uniqueSuffix(session)}`);
  }
}
