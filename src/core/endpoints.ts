/**
 * Endpoint failover that never applies a write twice (issue 22), built on etcd3's own per-host pool and
 * grpc-js's channel connectivity state rather than a balancer of our own.
 *
 * etcd3's `ConnectionPool` already holds one `Host` (with its gRPC channels) per endpoint and walks them in
 * a shuffled order, asking each host's fault-handling policy to run the call; a policy that throws without
 * running it makes the pool try the next host, and a global policy wraps the whole walk. Its defaults (retry
 * any recoverable error three times, a 5 s breaker per host after three failures) can apply a write twice
 * and keep a recovered member out. This module supplies both policies instead:
 *
 * - **host policy**: use a member only when its channel is READY and it is not backing off after a recent
 *   failure, as long as some other member is; otherwise fall back to READY members, then to any (so a
 *   single endpoint, or a cluster that is all down, is still tried). Failures (unreachable, deadline,
 *   refusal, and a stream that stopped answering: {@link EndpointHealth.suspect}) back the member off
 *   exponentially, 250 ms to 4 s; one success clears it.
 * - **global policy**: when no channel is READY yet, wait (event-driven, within the request's deadline) for
 *   one to be; re-send a request only when it {@link wasNeverSent}, to the next host in the walk, within
 *   the same deadline. A request that may have been delivered is never re-sent here.
 *
 * Failure modes: a member that accepts connections but hangs (paused, blackholed mid-connection) stays
 * READY until gRPC's keepalive notices (≤ 15 s); until then each of its back-off expiries lets one request
 * through, which times out (reported `mayHaveApplied` for a write, retried by reads). With a client given
 * by the caller (`connect({ client })`) its own policies apply, not these.
 *
 * @module
 */
import type { Etcd3 } from 'etcd3';
import { currentScope, scopeRemaining, type CallScope } from './call-scope.js';
import { EndpointRefused, EndpointSkipped, isEndpointFailure, wasNeverSent } from './refused.js';

/** grpc-js `ConnectivityState` values (not imported: etcd3 brings its own copy of grpc-js). */
const CONNECTING = 1;
const READY = 2;
const TRANSIENT_FAILURE = 3;

interface ChannelLike {
  getConnectivityState(tryToConnect: boolean): number;
  watchConnectivityState(current: number, deadline: Date | number, cb: (err?: Error) => void): void;
}

/** The part of etcd3's `Host` (lib/connection-pool.js) this module uses. */
interface HostLike {
  getServiceClient(name: string): { getChannel(): ChannelLike };
  resetAllServices(): void;
}

/** A cockatiel-shaped policy: all etcd3 calls on it is `execute`. */
interface Policy {
  execute<T>(fn: (ctx: { signal: AbortSignal }) => T | Promise<T>): Promise<T>;
}

/** Clients whose pool runs these policies: only their refusals are final (see {@link EndpointHealth.governs}). */
const governed = new WeakSet<object>();

/** The member each stream opened through these policies went to: a stalled stream is its member's failure. */
const streamMembers = new WeakMap<object, { health: EndpointHealth; index: number }>();

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 4000;
const NEVER = new AbortController().signal;

interface Health {
  failures: number;
  downUntil: number;
  /** Connection attempts since the member was last READY, and when the next one may start. */
  dials: number;
  nextDial: number;
}

/**
 * Health of each endpoint of one client, and the two etcd3 policies that act on it.
 *
 * @example
 * ```ts
 * const health = new EndpointHealth(hosts.length);
 * const client = new Etcd3({ hosts, faultHandling: health.faultHandling() });
 * health.attach(client);
 * ```
 */
export class EndpointHealth {
  readonly #health: Health[];
  #hosts: HostLike[] = [];
  #created = 0;

  constructor(readonly size: number) {
    this.#health = Array.from({ length: size }, () => ({ failures: 0, downUntil: 0, dials: 0, nextDial: 0 }));
  }

  /** etcd3's `faultHandling` option. etcd3 calls `host()` once per endpoint, in order. */
  faultHandling(): { host: (name: string) => Policy; global: Policy } {
    return {
      host: (name) => this.#hostPolicy(this.#created++ % this.size, name),
      global: { execute: (fn) => this.#globalExecute(fn) },
    };
  }

  /** Gives the policies the client's hosts (etcd3 creates them in the client's constructor). */
  attach(client: Etcd3): void {
    const hosts = (client as unknown as { pool?: { hosts?: HostLike[] } }).pool?.hosts;
    if (Array.isArray(hosts) && hosts.length === this.size) this.#hosts = hosts;
    governed.add(client);
  }

  /**
   * True when `client` runs these policies. A refusal from any other client (one given to `connect`) may
   * be the last of several attempts its own retry policy made, earlier ones possibly delivered: only
   * ours are known to re-send nothing that left.
   */
  static governs(client: Etcd3 | undefined): boolean {
    return client !== undefined && governed.has(client);
  }

  /**
   * Backs off the member `stream` was opened on, as a failed request does: for a stream that stopped
   * answering (a paused member keeps its connection READY), so the stream opened in its place goes to
   * another member. A stream not opened through these policies is ignored.
   *
   * @example
   * ```ts
   * if (unansweredFor > 2 * intervalMs) EndpointHealth.suspect(stream); // then drop it and open another
   * ```
   *
   * Failure modes: none (never throws). A member that is merely slow is backed off too, 125 ms to 4 s, and
   * still used when no other member is eligible.
   */
  static suspect(stream: object): void {
    const member = streamMembers.get(stream);
    if (member) member.health.#failed(member.index);
  }

  /** True when member `i` is connected and not backing off. */
  #eligible(i: number, ready: boolean[], now: number): boolean {
    return ready[i] === true && this.#health[i]!.downUntil <= now;
  }

  #readiness(): boolean[] {
    return this.#states(false).map((state) => state === READY);
  }

  /**
   * Each member's channel state; `undefined` for a closed host. A member that is not READY is dialled
   * again at most once per back-off (250 ms doubling to 4 s), or at once with `urgent` (a request is
   * waiting and no member is READY). A channel that failed to connect is closed rather than left to
   * grpc-js, which would redial a dead member every two seconds for as long as the channel exists.
   */
  #states(urgent: boolean): (number | undefined)[] {
    const now = performance.now();
    return this.#hosts.map((host, i) => {
      const h = this.#health[i]!;
      try {
        let state = this.#channel(i)?.getConnectivityState(false);
        if (state === READY) {
          h.dials = 0;
          h.nextDial = 0;
          return state;
        }
        if (state === TRANSIENT_FAILURE) {
          host.resetAllServices();
          state = undefined;
        }
        if (state !== CONNECTING && (urgent || now >= h.nextDial)) {
          h.dials = Math.min(h.dials + 1, 16);
          h.nextDial = now + Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (h.dials - 1));
          state = this.#channel(i)?.getConnectivityState(true);
        }
        return state;
      } catch {
        return undefined;
      }
    });
  }

  /** Some member is READY, or none is still connecting (all failed: waiting would only hide why). */
  #settled(): boolean {
    const states = this.#states(false);
    return states.some((s) => s === READY) || !states.some((s) => s === CONNECTING);
  }

  #channel(i: number): ChannelLike | undefined {
    try {
      // Every service of a host shares one subchannel (grpc-js pools them by address), so KV's channel
      // stands for the host. A closed client throws: that host is simply not ready.
      return this.#hosts[i]?.getServiceClient('KV').getChannel();
    } catch {
      return undefined;
    }
  }

  /** Whether the host policy of member `i` lets a call through now. */
  mayUse(i: number): boolean {
    if (this.#hosts.length === 0) return true;
    const ready = this.#readiness();
    const now = performance.now();
    if (this.#eligible(i, ready, now)) return true;
    if (ready.some((_, j) => this.#eligible(j, ready, now))) return false;
    if (ready[i]) return true;
    return !ready.some(Boolean);
  }

  #failed(i: number): void {
    const h = this.#health[i]!;
    h.failures = Math.min(h.failures + 1, 16);
    const ceiling = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (h.failures - 1));
    h.downUntil = performance.now() + ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  #succeeded(i: number): void {
    const h = this.#health[i]!;
    h.failures = 0;
    h.downUntil = 0;
  }

  #hostPolicy(i: number, name: string): Policy {
    return {
      execute: async (fn) => {
        if (!this.mayUse(i)) throw new EndpointSkipped(name);
        try {
          const result = await fn({ signal: NEVER });
          // A stream handed back is not an answer from the server: only unary replies prove health.
          if (typeof (result as { on?: unknown } | null)?.on !== 'function') this.#succeeded(i);
          else streamMembers.set(result as object, { health: this, index: i });
          return result;
        } catch (err) {
          if (isEndpointFailure(err)) this.#failed(i);
          // etcd3 closes a host's channels after a "recoverable" error. For a request that never left
          // there is no connection to drop, and a fresh channel forgets why connecting failed (its error
          // then says "Last error: null" instead of, say, a certificate problem): hand etcd3 an error
          // without its recoverable marker.
          if (wasNeverSent(err)) throw new EndpointRefused(err as Error);
          throw err;
        }
      },
    };
  }

  async #globalExecute<T>(fn: (ctx: { signal: AbortSignal }) => T | Promise<T>): Promise<T> {
    const scope = currentScope();
    // Each host at most twice: the walk is shared across attempts, so attempt n goes to the next host.
    const attempts = 2 * this.size + 1;
    for (let attempt = 1; ; attempt++) {
      await this.#waitForReady(scope);
      try {
        return await fn({ signal: scope?.signal ?? NEVER });
      } catch (err) {
        const expired = scope !== undefined && (scope.signal.aborted || scopeRemaining(scope) === 0);
        if (!wasNeverSent(err) || attempt >= attempts || expired) throw err;
      }
    }
  }

  /**
   * Resolves once some member's channel is READY, or none is still connecting (all failed: the call then
   * fails at once with the reason, e.g. a TLS error), or the request's deadline passes or its signal
   * aborts. Without a deadline, it does not wait.
   */
  #waitForReady(scope: CallScope | undefined): Promise<void> {
    const remaining = scopeRemaining(scope);
    if (this.#hosts.length === 0 || remaining === undefined || remaining <= 0) return Promise.resolve();
    if (this.#readiness().some(Boolean)) return Promise.resolve();
    this.#states(true);
    if (this.#settled()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const deadline = Date.now() + remaining;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        scope?.signal.removeEventListener('abort', finish);
        resolve();
      };
      scope?.signal.addEventListener('abort', finish, { once: true });
      const watch = (i: number) => {
        const channel = this.#channel(i);
        if (!channel) return;
        try {
          const state = channel.getConnectivityState(false);
          if (this.#settled()) return finish();
          // Fires on the next state change or at the deadline; grpc-js holds no timer beyond that.
          channel.watchConnectivityState(state, deadline, () => {
            if (done) return;
            if (Date.now() >= deadline) return finish();
            watch(i);
          });
        } catch {
          // A channel closed under us (etcd3 resets a failed host's channels): the next call makes a new one.
        }
      };
      for (let i = 0; i < this.#hosts.length; i++) watch(i);
      if (!done && this.#hosts.every((_, i) => this.#channel(i) === undefined)) finish();
    });
  }
}
