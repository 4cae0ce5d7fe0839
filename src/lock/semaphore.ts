import type { CoordContext } from '../core/context.js';
import type { WaitOptions } from '../core/deadline.js';
import type { Session } from '../core/session.js';
import { assertInteger, assertName, assertOptionalSignal, assertOptions } from '../core/validate.js';
import { Lock } from './lock.js';
import { onLiveSession } from './live-session.js';
import { withCallDeadline, withTryDeadline } from './call-deadline.js';
import { assertWaitOptions, type LockOptions } from './mutex.js';
import { UNIQUE_SUFFIX, uniqueSuffix } from './lock-key.js';
import { isOwnerKey, ownerKeyRange } from '../core/keys.js';
import { acquire, tryAcquire } from './acquire.js';
import type { QueueSpec } from './queue.js';
import { InvalidArgumentError } from '../core/errors.js';
import { readGroups, splitPermits, toParticipant, type LockParticipant, type Split } from './participants.js';

/** Options of {@link Semaphore.acquire}. */
export interface SemaphoreAcquireOptions extends WaitOptions {
  /**
   * How many permits to take at once, all or none (Curator's `acquire(qty)`). Default 1. At most the
   * semaphore's `permits` and {@link MAX_PERMITS_PER_CALL}.
   */
  permits?: number | undefined;
}

/**
 * The most permits one call takes: each is one key created in one txn, and etcd refuses a txn of more than
 * `--max-txn-ops` (default 128) operations.
 */
export const MAX_PERMITS_PER_CALL = 64;

/**
 * A fair counting semaphore: at most `permits` permits held at once, granted in FIFO order by create
 * revision. Each permit is a key `<name>/<leaseHex>_<random>` under the holder's session lease, so the
 * permits of a dead session are freed when its lease expires. Every user of one name must agree on
 * `permits`.
 *
 * Several permits at once (`acquire({ permits: 3 })`): one txn creates one key per permit, so they share
 * one create revision — one place in the FIFO — and appear all or none. A waiter is granted once the keys
 * older than its own, counted one per permit, plus its own number fit in `permits`. Chosen over one key
 * that counts as N because every permit stays a plain permit key: counting stays "keys older than mine"
 * (keys-only reads, no values), and a 3-permit holder counts as 3 for every user, this library's earlier
 * versions included. A big request at the head of the line makes later, smaller ones wait (strict FIFO: it
 * is never starved). Cost: at most {@link MAX_PERMITS_PER_CALL} per call (etcd's txn size limit).
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
   * Waits for a permit (or `permits` of them, all at once). Release with `permit.release()` (or
   * `await using`): that frees every permit the call took.
   *
   * @example
   * ```ts
   * await using three = await coord.semaphore('pool/gpu', 8).acquire({ permits: 3, timeoutMs: 30_000 });
   * ```
   *
   * @throws InvalidArgumentError when `permits` is not an integer from 1 to the semaphore's `permits` (and
   *   at most {@link MAX_PERMITS_PER_CALL}), before any request
   * @throws LockTimeoutError, AbortedError, SessionExpiredError, LockLostError as {@link Mutex.lock}
   *
   * Failure modes: as {@link Mutex.lock}; the returned handle's `signal` aborts when any of its permit keys
   * is lost. Its `fencingToken` is the create revision shared by its keys.
   */
  async acquire(opts: SemaphoreAcquireOptions = {}): Promise<Lock> {
    assertWaitOptions(opts);
    const n = this.#count(opts.permits);
    opts.signal?.throwIfAborted();
    const spec = this.#specFor(n);
    return withCallDeadline(opts, spec.what, (signal) =>
      onLiveSession(this.#ctx, this.#session, signal, async (session) => {
        const [key, ...extraKeys] = this.#keysFor(session, n);
        const granted = await acquire(this.#ctx, spec, key!, session, { signal, extraKeys });
        return new Lock(this.#ctx, spec, granted);
      }),
    );
  }

  /**
   * A permit (or `permits` of them) if free and nobody older waits, else `null`.
   *
   * @throws InvalidArgumentError for a bad `permits`, as {@link acquire}; UnavailableError when etcd does
   *   not answer within the request deadline
   */
  async tryAcquire(opts: { permits?: number | undefined } = {}): Promise<Lock | null> {
    assertOptions(opts, 'opts');
    const n = this.#count(opts.permits);
    const spec = this.#specFor(n);
    return withTryDeadline(this.#ctx, (signal) =>
      onLiveSession(this.#ctx, this.#session, signal, async (session) => {
        const [key, ...extraKeys] = this.#keysFor(session, n);
        const granted = await tryAcquire(this.#ctx, spec, key!, session, { signal, extraKeys });
        return granted ? new Lock(this.#ctx, spec, granted) : null;
      }),
    );
  }

  /**
   * Who holds permits now, in queue order, each acquisition once with its `permits`: the oldest ones whose
   * permits fit in this handle's `permits`. Read at one revision (paged if long).
   *
   * @example
   * ```ts
   * const used = (await sem.holders()).reduce((n, h) => n + (h.permits ?? 1), 0);
   * ```
   *
   * @throws UnavailableError when etcd cannot be reached; AbortedError when `signal` aborts
   *
   * Failure modes: a holder is whoever the queue entitles at that revision (one just granted may not have
   * seen its turn yet); counted with this handle's `permits`, so a user that disagrees on the total sees
   * another split. History compacted between pages → read again (up to 3 times).
   */
  async holders(opts: { signal?: AbortSignal | undefined } = {}): Promise<LockParticipant[]> {
    return (await this.#participants(opts)).holders;
  }

  /**
   * Who waits, in queue order (the order they will be granted in), read at one revision as {@link holders}.
   *
   * @example
   * ```ts
   * console.log(`${(await sem.waiters()).length} waiting`);
   * ```
   *
   * @throws UnavailableError when etcd cannot be reached; AbortedError when `signal` aborts
   */
  async waiters(opts: { signal?: AbortSignal | undefined } = {}): Promise<LockParticipant[]> {
    return (await this.#participants(opts)).waiters;
  }

  async #participants(opts: { signal?: AbortSignal | undefined }): Promise<Split> {
    assertOptions(opts, 'opts');
    assertOptionalSignal(opts.signal, 'signal');
    const { blockers, isOwner } = this.#spec;
    const groups = await readGroups(
      this.#ctx,
      `${this.#spec.what}: participants`,
      blockers,
      isOwner,
      opts.signal,
    );
    const queue = groups.map((g) => toParticipant(this.#ctx, g, { permits: g.kvs.length }));
    return splitPermits(queue, this.permits);
  }

  #count(permits: unknown): number {
    if (permits === undefined) return 1;
    assertInteger(permits, 'permits', 1, MAX_PERMITS_PER_CALL);
    if (permits > this.permits)
      throw new InvalidArgumentError(
        `Expected \`permits\` to be at most the semaphore's ${this.permits}, got ${permits}`,
      );
    return permits;
  }

  /** The queue rule for a request of `n` permits: granted while fewer than `permits - n + 1` keys are older. */
  #specFor(n: number): QueueSpec {
    return n === 1 ? this.#spec : { ...this.#spec, limit: this.permits - n + 1 };
  }

  /** `n` permit keys, the first (the handle's `key`) the smallest, as {@link holders} names an acquisition. */
  #keysFor(session: Session, n: number): Buffer[] {
    const keys = Array.from({ length: n }, () =>
      this.#ctx.keyspace.key(`${this.name}/${uniqueSuffix(session)}`),
    );
    return keys.sort(Buffer.compare);
  }
}
