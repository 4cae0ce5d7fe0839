import type { CoordContext } from '../core/context.js';
import type { WaitOptions } from '../core/deadline.js';
import { assertName } from '../core/validate.js';
import { Lock } from './lock.js';
import { onLiveSession } from './live-session.js';
import { withCallDeadline, withTryDeadline } from './call-deadline.js';
import { assertWaitOptions, type LockOptions } from './mutex.js';
import { UNIQUE_SUFFIX, uniqueSuffix } from './lock-key.js';
import { isOwnerKey } from '../core/keys.js';
import { acquire, tryAcquire } from './acquire.js';
import type { QueueSpec } from './queue.js';
import type { Session } from '../core/session.js';
import type { Granted } from './queue.js';
import { WriteLock } from './write-lock.js';
import {
  readGroups,
  splitReadersWriters,
  toParticipant,
  type LockParticipant,
  type Split,
} from './participants.js';
import { assertOptionalSignal, assertOptions } from '../core/validate.js';

/**
 * A fair readers-writer lock: readers share, a writer excludes everyone, and everyone queues in one FIFO
 * by create revision, so a queued writer is never overtaken by later readers (writers are not starved).
 * Keys: `<name>/read/<leaseHex>_<random>` and `<name>/write/<leaseHex>_<random>` (one per acquisition, so
 * one session can hold several read locks at once). A write lock also creates, in the same txn, a companion
 * read key with the same suffix, which lets it {@link WriteLock.downgrade | downgrade} to a read lock
 * without ever freeing the lock (see {@link WriteLock}).
 *
 * Names: as {@link Mutex}, with one rule more. A semaphore (or another RW lock's reader/writer keys) named
 * `<name>/read` or `<name>/write` uses the same keys as this lock's readers or writers
 * (`<name>/read/<leaseHex>_<random>`), so the two block each other: never give a lock the name of an RW
 * lock plus `/read` or `/write`. The keys cannot tell them apart, and neither constructor knows the other
 * name, so this is not checked.
 *
 * @example
 * ```ts
 * const rw = coord.rwMutex('catalog');
 * await using r = await rw.readLock();      // many readers at once
 * await using w = await rw.writeLock();     // waits for earlier readers and writers
 * ```
 *
 * Failure modes: as {@link Mutex}: a lost session frees its keys; waiters never hold on a dead lease; the
 * returned `Lock` has `signal`, `guard()` and a fencing token (create revision).
 */
export class RWMutex {
  /** The lock prefix, relative to the namespace. */
  readonly name: string;
  readonly #ctx: CoordContext;
  readonly #session: Session | undefined;
  readonly #read: QueueSpec;
  readonly #write: QueueSpec;

  /** @throws InvalidArgumentError for an empty name or one containing `\0`, before any request */
  constructor(ctx: CoordContext, name: string, opts: LockOptions = {}) {
    assertName(name, 'name');
    this.name = name;
    this.#ctx = ctx;
    this.#session = opts.session;
    const prefix = ctx.keyspace.prefixRange(`${name}/`);
    // A reader waits for older writers only; a writer for every older key.
    // Only `<name>/read|write/<lease hex>_<random>` take part, never a nested name's keys.
    const readers = ctx.keyspace.prefixRange(`${name}/read/`);
    const writers = ctx.keyspace.prefixRange(`${name}/write/`);
    const isWriter = (key: Buffer) => isOwnerKey(key, writers.key, UNIQUE_SUFFIX);
    this.#read = {
      what: `rwmutex "${name}" (read)`,
      prefix,
      blockers: writers,
      isOwner: isWriter,
      limit: 1,
    };
    this.#write = {
      what: `rwmutex "${name}" (write)`,
      prefix,
      blockers: prefix,
      isOwner: (key) => isWriter(key) || isOwnerKey(key, readers.key, UNIQUE_SUFFIX),
      limit: 1,
    };
  }

  /**
   * Waits for a shared lock: granted once no older writer holds or waits.
   *
   * @throws LockTimeoutError, AbortedError, SessionExpiredError, LockLostError as {@link Mutex.lock}
   */
  readLock(opts: WaitOptions = {}): Promise<Lock> {
    return this.#lock(this.#read, 'read', opts, (g) => new Lock(this.#ctx, this.#read, g));
  }

  /**
   * Waits for the exclusive lock: granted once every older key (reader or writer) is gone.
   *
   * @throws LockTimeoutError, AbortedError, SessionExpiredError, LockLostError as {@link Mutex.lock}
   */
  writeLock(opts: WaitOptions = {}): Promise<WriteLock> {
    return this.#lock(this.#write, 'write', opts, (g) => this.#writeLockOf(g));
  }

  /** A read lock if one is available without waiting, else `null`. */
  tryReadLock(): Promise<Lock | null> {
    return this.#try(this.#read, 'read', (g) => new Lock(this.#ctx, this.#read, g));
  }

  /** The write lock if it is free and nobody waits, else `null`. */
  tryWriteLock(): Promise<WriteLock | null> {
    return this.#try(this.#write, 'write', (g) => this.#writeLockOf(g));
  }

  /**
   * Who holds the lock now, in queue order: the first writer alone, or every reader older than the first
   * writer (`mode` says which; a downgraded writer is a reader). Read at one revision (paged if long).
   *
   * @example
   * ```ts
   * for (const h of await coord.rwMutex('catalog').holders()) console.log(h.mode, h.key, h.leaseId);
   * ```
   *
   * @throws UnavailableError when etcd cannot be reached; AbortedError when `signal` aborts
   *
   * Failure modes: a holder is whoever the queue entitles at that revision; one just granted may not have
   * seen its turn yet. History compacted between pages → read again (up to 3 times).
   */
  async holders(opts: { signal?: AbortSignal | undefined } = {}): Promise<LockParticipant[]> {
    return (await this.#participants(opts)).holders;
  }

  /**
   * Who waits, in queue order (the order they will be granted in), read at one revision as {@link holders}.
   *
   * @example
   * ```ts
   * const queued = await coord.rwMutex('catalog').waiters();
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
    const { prefix, isOwner } = this.#write;
    const writers = this.#ctx.keyspace.key(`${this.name}/write/`);
    const isWriteKey = (k: Buffer) => writers.compare(k, 0, writers.length) === 0;
    const groups = await readGroups(
      this.#ctx,
      `rwmutex "${this.name}": participants`,
      prefix,
      isOwner,
      opts.signal,
    );
    const queue = groups.map((g) => {
      // A writer's group is its write key and the companion read key: name it by the write key.
      const write = g.kvs.find((kv) => isWriteKey(kv.key));
      const named = write ? { ...g, kvs: [write] } : g;
      return toParticipant(this.#ctx, named, { mode: write ? 'write' : 'read' });
    });
    return splitReadersWriters(queue);
  }

  #writeLockOf(granted: Granted): WriteLock {
    return new WriteLock(this.#ctx, this.#write, granted, this.#read);
  }

  async #lock<L extends Lock>(
    spec: QueueSpec,
    kind: 'read' | 'write',
    opts: WaitOptions,
    make: (g: Granted) => L,
  ): Promise<L> {
    assertWaitOptions(opts);
    opts.signal?.throwIfAborted();
    return withCallDeadline(opts, spec.what, (signal) =>
      onLiveSession(this.#ctx, this.#session, signal, async (session) => {
        const [key, ...extraKeys] = this.#keysFor(kind, session);
        return make(await acquire(this.#ctx, spec, key!, session, { signal, extraKeys }));
      }),
    );
  }

  async #try<L extends Lock>(
    spec: QueueSpec,
    kind: 'read' | 'write',
    make: (g: Granted) => L,
  ): Promise<L | null> {
    return withTryDeadline(this.#ctx, (signal) =>
      onLiveSession(this.#ctx, this.#session, signal, async (session) => {
        const [key, ...extraKeys] = this.#keysFor(kind, session);
        const granted = await tryAcquire(this.#ctx, spec, key!, session, { signal, extraKeys });
        return granted ? make(granted) : null;
      }),
    );
  }

  /** A reader's key; a writer's key and its companion read key (same suffix, see {@link WriteLock}). */
  #keysFor(kind: 'read' | 'write', session: Session): Buffer[] {
    const suffix = uniqueSuffix(session);
    const key = (k: string) => this.#ctx.keyspace.key(`${this.name}/${k}/${suffix}`);
    return kind === 'read' ? [key('read')] : [key('write'), key('read')];
  }
}
