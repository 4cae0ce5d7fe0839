import type { CoordContext } from '../core/context.js';
import { raceAbort } from '../core/deadline.js';
import type { Session } from '../core/session.js';

/**
 * The leases behind the Store's TTL puts: one kept-alive session per distinct TTL, shared by every key put
 * with that TTL (the default session when the TTL is the coordinator's), as the registry pools its leases.
 * So a thousand ephemeral keys with a 5 s TTL cost one lease and one keepalive. The sessions are
 * coordinator sessions: `coord.close()` revokes them, and with them every key put on them.
 *
 * @example
 * ```ts
 * const session = await leases.acquire(5, signal);
 * await client.put(key).value(v).lease(session.leaseId);
 * ```
 *
 * Failure modes: a lease that is lost (the process paused past its TTL, etcd unreachable for longer)
 * takes its keys with it, as Consul's and libkv's ephemeral keys: the next TTL put grants a new lease, and
 * keys put before are *not* re-put (a resurrected key could overwrite what another process wrote since;
 * watch the key to notice its deletion). A grant is shared and independent of any caller: one caller
 * giving up does not fail the others.
 */
export class TtlLeases {
  readonly #ctx: CoordContext;
  readonly #byTtl = new Map<number, Promise<Session>>();

  constructor(ctx: CoordContext) {
    this.#ctx = ctx;
  }

  /**
   * A live session with `ttlSeconds`, granted on first use (or after the previous one was lost).
   *
   * @throws UnavailableError when no lease is granted in time; AbortedError when `signal` aborts or the
   *   coordinator closed
   */
  async acquire(ttlSeconds: number, signal?: AbortSignal): Promise<Session> {
    if (ttlSeconds === this.#ctx.ttlSeconds) return this.#ctx.currentSession({ signal });
    for (;;) {
      let pending = this.#byTtl.get(ttlSeconds);
      if (!pending) {
        const granting = this.#ctx.newSession({ ttlSeconds });
        pending = granting;
        this.#byTtl.set(ttlSeconds, granting);
        granting.catch(() => {
          if (this.#byTtl.get(ttlSeconds) === granting) this.#byTtl.delete(ttlSeconds);
        });
      }
      const session = await raceAbort(pending, signal, `kv: lease of ${ttlSeconds} s`);
      if (!session.done) return session;
      // Lost: its keys are gone with it. Grant another for the puts to come.
      if (this.#byTtl.get(ttlSeconds) === pending) this.#byTtl.delete(ttlSeconds);
    }
  }

  /** Forgets `session` after etcd refused it (lease not found), so the next acquire grants a new one. */
  drop(session: Session): void {
    for (const [ttl, pending] of this.#byTtl) {
      void pending.then(
        (s) => {
          if (s === session && this.#byTtl.get(ttl) === pending) {
            this.#byTtl.delete(ttl);
            void s.close();
          }
        },
        () => undefined,
      );
    }
  }
}
