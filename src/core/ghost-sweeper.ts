import type { CoordContext } from './context.js';
import { Backoff } from './backoff.js';
import { raceAbort, sleep } from './deadline.js';
import { CoordError } from './errors.js';
import { headerRevision } from './kv.js';
import { withRetry } from './retry.js';
import type { WatchSubscription } from './watch-hub.js';
import { detached } from './call-scope.js';

/** What {@link GhostSweeper.arm} needs to know about the attempt of unknown outcome. */
export interface GhostSpec {
  /** The lease the ambiguous attempt attached the key to: only a key under this lease is swept. */
  leaseId: bigint;
  /**
   * The lease's liveness (the session's signal). Once it aborts the lease is gone, a late attempt fails
   * with "lease not found", and sweeping stops.
   */
  alive: AbortSignal;
  /** Names the owner in errors, e.g. `mutex "jobs"`. */
  what: string;
  /**
   * *Once mode*, for a key that outlives its owner's hold (a queue item, a barrier, lease-less or not):
   * the key may exist once — the owner's own key, named with {@link GhostSweeper.own}, else the first
   * one seen — and only a *re-creation* (another create revision) is swept. `value` narrows it to the
   * keys the ambiguous attempt wrote (a name other owners may legitimately take, such as a barrier's).
   * A lease-less key (`leaseId: 0n`) is watched for as long as `alive` (the coordinator's
   * `closedSignal`) lives.
   */
  once?: { value?: Buffer | undefined } | undefined;
}

/** A hold on a key: while any hold is open the key is the owner's, never swept. `release()` is idempotent. */
export type GhostHold = () => void;

/** The key's state as the sweeper last saw it: absent, or present with its create revision and lease. */
type Seen = { createRevision: bigint; lease: bigint; value: Buffer } | null;

interface Armed {
  readonly spec: GhostSpec;
  sub: WatchSubscription | undefined;
  /** Latest known state, and the revision it was seen at (events and the read are ordered by revision). */
  seen: Seen | undefined;
  seenAt: bigint;
  /** Once mode: the create revision of the one legitimate key (null: none may exist any more). */
  own: bigint | null | undefined;
  /** The sweep (guarded delete) in flight, if any. Never rejects. */
  sweep: Promise<void> | undefined;
  readonly onDead: () => void;
}

interface Entry {
  readonly key: Buffer;
  /** Once mode with a value: the value swept (entries of one key differ by it). */
  readonly value: Buffer | undefined;
  holds: number;
  armed: Armed | undefined;
}

const sweepers = new WeakMap<CoordContext, GhostSweeper>();

/**
 * Deletes *ghost keys*: keys re-created by a write of unknown outcome after their owner had moved on.
 *
 * The shape (issue 15 f3): a create guarded by `Create == 0` (a lock waiter's put, a candidate's put, a
 * semaphore permit, a barrier participant) times out; it sits in a paused member and is applied *later*,
 * after the retry won elsewhere and after the owner released the key. Its guard passes again (the key is
 * absent), so the key is back under the owner's live lease, owned by nobody, blocking everyone until the
 * session ends. etcd lets this happen; the owner is the only one who can tell the key is a ghost.
 *
 * Protocol for an owner of `key` under lease L:
 * 1. `const hold = sweeper.hold(key)` *before* the first create attempt, then `await sweeper.settled(key)`
 *    (a sweep already in flight must land first: a create that found the ghost would adopt it, and the
 *    sweep would then delete the adopted key); release the hold only once the key is released (its delete
 *    confirmed) or known gone. While any hold is open, no new sweep of the key starts.
 * 2. After every create attempt that failed with an unknown outcome (`UnavailableError.mayHaveApplied`),
 *    `sweeper.arm(key, { leaseId: L, alive: session.signal, what })`.
 * 3. That is all: on the happy path (no ambiguity) `hold()` is a map update and nothing else runs.
 *
 * Once armed, the sweeper watches the key through `ctx.watchHub` (one shared watcher, no polling) for the
 * rest of the lease's life, since a stalled attempt can be applied arbitrarily late but never after its
 * lease is gone. Whenever the key exists under L while no hold is open — at the moment the last hold is
 * released, or when a late attempt re-creates it — it is deleted, guarded by the create revision seen, so
 * a newer legitimate key is never touched.
 *
 * **Bound** (documented in the README): while etcd is reachable, a ghost key exists at most one watch
 * notification plus one delete round trip after the later of (its owner released it, it was re-created);
 * when etcd is unreachable, until etcd is reachable again (the delete is retried while the lease lives),
 * and never longer than the lease's life.
 *
 * A key an ambiguous attempt created that the owner then adopts (its retry found the key and took it as
 * its own: the `Create != 0` branch) is no ghost: the owner holds it, and a hold is open.
 *
 * @example
 * ```ts
 * const sweeper = GhostSweeper.of(ctx);
 * const hold = sweeper.hold(key);
 * try {
 *   await sweeper.settled(key, signal);
 *   await withRetry(() => createGuarded(key).catch((err) => {
 *     if (err instanceof UnavailableError && err.mayHaveApplied) sweeper.arm(key, { leaseId, alive: session.signal, what });
 *     throw err;
 *   }));
 *   await useIt();
 *   await deleteIt();
 * } finally {
 *   hold(); // from here on, the key is swept if it reappears under the lease
 * }
 * ```
 *
 * @throws nothing: sweeping runs in the background and never rejects; a failed delete is retried while
 *   the lease lives, a broken watch re-subscribes and re-reads.
 *
 * Failure modes: a lease shared with another process (`newSession({ leaseId })`) that holds the same key
 * name is not supported: that process's key would look like a ghost here. Holds are per coordinator: an
 * owner must take its hold on the same coordinator it armed on.
 */
export class GhostSweeper {
  readonly #ctx: CoordContext;
  readonly #entries = new Map<string, Entry>();

  private constructor(ctx: CoordContext) {
    this.#ctx = ctx;
  }

  /** The coordinator's one sweeper. */
  static of(ctx: CoordContext): GhostSweeper {
    let s = sweepers.get(ctx);
    if (!s) {
      const created = new GhostSweeper(ctx);
      s = created;
      sweepers.set(ctx, created);
      ctx.track({ close: () => Promise.resolve(created.#closeAll()) });
    }
    return s;
  }

  /** Keys currently watched for ghosts (for tests and metrics). */
  get armedCount(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (e.armed) n++;
    return n;
  }

  /**
   * Marks `key` (a full etcd key) as owned by a caller in this process until the returned function is
   * called. Take it before the first create attempt.
   */
  hold(key: Buffer, value?: Buffer): GhostHold {
    const entry = this.#entry(key, value);
    entry.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      entry.holds--;
      if (entry.holds === 0) this.#idle(entry);
    };
  }

  /**
   * Resolves once no sweep of `key` is in flight (at once, without a sweep: the happy path), so a create
   * that follows cannot adopt a key a sweep is about to delete. Call it after {@link hold}.
   *
   * @throws AbortedError (or the signal's `CoordError` reason) when `signal` aborts first
   */
  settled(key: Buffer, signal?: AbortSignal): Promise<void> {
    const sweep = this.#entries.get(key.toString('hex'))?.armed?.sweep;
    return sweep ? raceAbort(sweep, signal, 'ghost sweeper: wait for sweep') : Promise.resolve();
  }

  /**
   * Records that an attempt to create `key` under `spec.leaseId` has an unknown outcome: from now until
   * the lease is gone, the key is deleted whenever it exists under that lease while nobody holds it.
   * Idempotent; arming again with a new lease replaces a dead one.
   */
  arm(key: Buffer, spec: GhostSpec): void {
    if (spec.alive.aborted) return;
    const entry = this.#entry(key, spec.once?.value);
    const current = entry.armed;
    if (current && !current.spec.alive.aborted && current.spec.leaseId === spec.leaseId) return;
    if (current) this.#disarm(entry);
    const onDead = () => {
      if (entry.armed === armed) this.#disarm(entry);
    };
    const armed: Armed = {
      spec,
      sub: undefined,
      seen: undefined,
      seenAt: -1n,
      own: undefined,
      sweep: undefined,
      onDead,
    };
    entry.armed = armed;
    spec.alive.addEventListener('abort', onDead, { once: true });
    this.#subscribe(entry, armed);
  }

  /**
   * Once mode: names the owner's own key — its create revision, or null when none may exist any more (it
   * was already deleted) — so that only another create revision is swept. Call it, if armed or not, once
   * the create is decided and before releasing the hold. A no-op when the key is not armed: the happy path.
   */
  own(key: Buffer, createRevision: bigint | null, value?: Buffer): void {
    const armed = this.#entries.get(entryId(key, value))?.armed;
    if (armed?.spec.once) armed.own = createRevision;
  }

  #entry(key: Buffer, value: Buffer | undefined): Entry {
    const id = entryId(key, value);
    let entry = this.#entries.get(id);
    if (!entry) {
      entry = { key: Buffer.from(key), value: value && Buffer.from(value), holds: 0, armed: undefined };
      this.#entries.set(id, entry);
    }
    return entry;
  }

  #idle(entry: Entry): void {
    if (entry.armed) this.#maybeSweep(entry, entry.armed);
    else this.#forget(entry);
  }

  #forget(entry: Entry): void {
    const id = entryId(entry.key, entry.value);
    if (entry.holds === 0 && !entry.armed && this.#entries.get(id) === entry) this.#entries.delete(id);
  }

  /** Watch first, then read: every change after the read is seen, so no re-creation is missed. */
  #subscribe(entry: Entry, armed: Armed): void {
    const { key } = entry;
    const note = (seen: Seen, at: bigint) => {
      if (at < armed.seenAt) return;
      armed.seen = seen;
      armed.seenAt = at;
      this.#maybeSweep(entry, armed);
    };
    const broken = () => {
      if (entry.armed !== armed) return;
      armed.sub?.close();
      armed.sub = undefined;
      armed.seen = undefined;
      armed.seenAt = -1n;
      // A watch that broke (compaction while disconnected, cancellation) may have missed a re-creation.
      void sleep(200, armed.spec.alive)
        .then(() => entry.armed === armed && this.#subscribe(entry, armed))
        .catch(() => undefined);
    };
    const sub = this.#ctx.watchHub.watch(
      { key },
      {
        onBatch: (b) => {
          for (const e of b.events) {
            note(
              e.type === 'delete'
                ? null
                : { createRevision: e.kv.createRevision, lease: e.kv.leaseId, value: e.kv.value },
              b.revision,
            );
          }
        },
        onCompacted: broken,
        onError: broken,
      },
    );
    armed.sub = sub;
    // The check and the sweep outlive the call that armed the key: never under that call's deadline.
    void detached(async () => {
      const backoff = new Backoff(100, 1000);
      await sub.ready;
      while (entry.armed === armed && armed.sub === sub) {
        try {
          const res = await this.#ctx.requester.run(
            `${armed.spec.what}: ghost check`,
            (o) => this.#ctx.client.kv.range({ key }, o),
            { signal: armed.spec.alive },
          );
          const kv = res.kvs[0];
          note(
            kv
              ? {
                  createRevision: BigInt(kv.create_revision),
                  lease: BigInt(kv.lease),
                  value: Buffer.from(kv.value),
                }
              : null,
            headerRevision(res.header),
          );
          return;
        } catch {
          await sleep(backoff.next(), armed.spec.alive);
        }
      }
    }).catch(() => undefined);
  }

  #maybeSweep(entry: Entry, armed: Armed): void {
    const seen = armed.seen;
    if (entry.holds > 0 || armed.sweep || !seen || seen.lease !== armed.spec.leaseId) return;
    if (armed.spec.alive.aborted) return;
    if (armed.spec.once) {
      // The first key seen is the owner's own unless the owner said which one it is.
      if (armed.own === undefined) armed.own = seen.createRevision;
      if (seen.createRevision === armed.own) return;
      if (entry.value && !seen.value.equals(entry.value)) return;
    }
    const { key } = entry;
    const createRevision = seen.createRevision;
    armed.sweep = detached(() =>
      withRetry(
        () =>
          this.#ctx.requester.run(
            `${armed.spec.what}: delete ghost key`,
            (o) =>
              this.#ctx.client.kv.txn(
                {
                  compare: [
                    { key, target: 'Create', result: 'Equal', create_revision: createRevision.toString() },
                  ],
                  success: [{ request_delete_range: { key } }],
                },
                o,
              ),
            { write: true, signal: armed.spec.alive },
          ),
        // Guarded by the create revision: a repeat, or a delete landing late, never touches a newer key.
        {
          signal: armed.spec.alive,
          retries: Infinity,
          maxTimeoutMs: 1000,
          what: armed.spec.what,
          shouldRetry: (err) => err instanceof CoordError && err.code === 'UNAVAILABLE',
        },
      ),
    )
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        armed.sweep = undefined;
        // The watch delivers the delete (or a newer put); sweep again if the key is still a ghost.
        if (entry.armed === armed && armed.seen && armed.seen.createRevision !== createRevision)
          this.#maybeSweep(entry, armed);
      });
  }

  #disarm(entry: Entry): void {
    const armed = entry.armed;
    if (!armed) return;
    entry.armed = undefined;
    armed.spec.alive.removeEventListener('abort', armed.onDead);
    armed.sub?.close();
    armed.sub = undefined;
    this.#forget(entry);
  }

  #closeAll(): void {
    for (const entry of [...this.#entries.values()]) this.#disarm(entry);
    this.#entries.clear();
  }
}

/** One entry per key, or per (key, value) in once mode with a value. */
function entryId(key: Buffer, value: Buffer | undefined): string {
  return value ? `${key.toString('hex')}:${value.toString('hex')}` : key.toString('hex');
}
