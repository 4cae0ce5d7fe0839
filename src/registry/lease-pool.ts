import type { CoordContext } from '../core/context.js';
import { raceAbort } from '../core/deadline.js';
import type { Session } from '../core/session.js';

/**
 * The leases registrations live on, one pool per coordinator: the default session for the coordinator's
 * TTL, and one shared separate session per other TTL, closed (revoked) when its last registration leaves.
 * So any number of registrations cost one keepalive stream per distinct TTL.
 */
export class LeasePool {
  static readonly #pools = new WeakMap<CoordContext, LeasePool>();
  readonly #ctx: CoordContext;
  /** Per TTL, the separate session new registrations join. */
  readonly #current = new Map<number, Promise<Session>>();
  /** Holders of each separate session (the default session is not counted: the coordinator owns it). */
  readonly #refs = new Map<Session, number>();
  /** Keys registered through this coordinator, so one process never registers the same id twice. */
  readonly #keys = new Set<string>();

  private constructor(ctx: CoordContext) {
    this.#ctx = ctx;
  }

  /** The pool of a coordinator (created on first use). */
  static of(ctx: CoordContext): LeasePool {
    let pool = LeasePool.#pools.get(ctx);
    if (!pool) {
      pool = new LeasePool(ctx);
      LeasePool.#pools.set(ctx, pool);
    }
    return pool;
  }

  /** Reserves a registration key; false if this coordinator already has it. */
  claim(key: string): boolean {
    if (this.#keys.has(key)) return false;
    this.#keys.add(key);
    return true;
  }

  unclaim(key: string): void {
    this.#keys.delete(key);
  }

  /**
   * A live session with this TTL: a new lease if the previous one was lost. Pair with {@link release}.
   *
   * @throws UnavailableError when a lease cannot be granted in time; AbortedError once the coordinator closed
   */
  async acquire(ttlSeconds: number, signal?: AbortSignal): Promise<Session> {
    if (ttlSeconds === this.#ctx.ttlSeconds) return this.#ctx.currentSession({ signal });
    for (;;) {
      let pending = this.#current.get(ttlSeconds);
      if (!pending) {
        // No caller signal on the shared grant: one caller giving up must not fail the others.
        const granting = this.#ctx.newSession({ ttlSeconds });
        pending = granting;
        this.#current.set(ttlSeconds, granting);
        granting.catch(() => {
          if (this.#current.get(ttlSeconds) === granting) this.#current.delete(ttlSeconds);
        });
      }
      // The shared grant goes on when this caller gives up: the next registration of this TTL joins it.
      const session = await raceAbort(pending, signal, `registry: lease of ${ttlSeconds} s`);
      if (session.done) {
        if (this.#current.get(ttlSeconds) === pending) this.#current.delete(ttlSeconds);
        if (!this.#refs.has(session)) void session.close();
        continue;
      }
      this.#refs.set(session, (this.#refs.get(session) ?? 0) + 1);
      return session;
    }
  }

  /** Gives back a session from {@link acquire}; the last holder of a separate session closes (revokes) it. */
  release(session: Session): void {
    const refs = this.#refs.get(session);
    if (refs === undefined) return;
    if (refs > 1) {
      this.#refs.set(session, refs - 1);
      return;
    }
    this.#refs.delete(session);
    const pending = this.#current.get(session.ttlSeconds);
    void pending?.then((s) => {
      if (s === session && this.#current.get(session.ttlSeconds) === pending)
        this.#current.delete(session.ttlSeconds);
    });
    void session.close();
  }
}
