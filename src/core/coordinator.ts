import { setMaxListeners } from 'node:events';
import type { Etcd3 } from 'etcd3';
import type { Closable, CoordContext } from './context.js';
import { createClient, dial, resolveOptions, type ConnectOptions, type ResolvedOptions } from './connect.js';
import { detached } from './call-scope.js';
import { raceAbort, throwIfAborted, withDeadline, type WaitOptions } from './deadline.js';
import { EPOCH_KEY, EpochMarker } from './epoch.js';
import { AbortedError, UnavailableError } from './errors.js';
import { withRetry } from './retry.js';
import { Keyspace } from './keys.js';
import { Requester } from './rpc.js';
import { Session, type SessionOptions } from './session.js';
import { WatchHub } from './watch-hub.js';

/**
 * The handle an app holds: one etcd client, one watch stream, one default session, and every recipe
 * made from it. `close()` releases all of them.
 *
 * Recipe factories (`mutex`, `election`, `registry`, …) are added to this class by the recipe modules'
 * facade in `src/index.ts`'s `Coordinator` export.
 */
export class CoordinatorCore implements CoordContext {
  /**
   * The raw `etcd3` client underneath, for what the recipes do not cover.
   *
   * **Warning:** it is *not* namespaced — keys given to it are used as they are, without this
   * coordinator's `namespace` prefix (use `coord.keyspace.key(name)` to build a namespaced key) — and
   * its calls bypass etcd-coord's deadlines (`requestTimeoutMs`, `timeoutMs`), retries, error classes
   * (`UnavailableError`, `mayHaveApplied`…) and the Store's generation-marker checks. Prefer `coord.kv`
   * (for fenced writes, `coord.kv.put(key, value, { guard: lock })`) and the recipes.
   *
   * @example
   * ```ts
   * // Only when coord.kv has no equivalent: note the explicit namespacing.
   * await coord.client.if(...lock.guard()).then(coord.client.put(coord.keyspace.key('out')).value('x')).commit();
   * ```
   */
  readonly client: Etcd3;
  /** Turns recipe-relative names into full etcd keys: `keyspace.key(name)` prefixes the namespace (for writes through `client`). */
  readonly keyspace: Keyspace;
  /** @internal Issues the recipes' requests with deadlines and classified errors. */
  readonly requester: Requester;
  /** The one watch stream every recipe of this coordinator shares; emits `reset` when etcd lost its data. */
  readonly watchHub: WatchHub;
  readonly ttlSeconds: number;
  /** The key prefix every recipe of this coordinator works under (`''` for none). */
  readonly namespace: string;
  /** The etcd endpoints this coordinator connected to. */
  readonly endpoints: readonly string[];
  readonly #ownsClient: boolean;
  readonly #resources = new Set<Closable>();
  readonly #closed = new AbortController();
  #session: Session;
  #renewing: Promise<Session> | undefined;
  #closing: Promise<void> | undefined;

  protected constructor(client: Etcd3, ownsClient: boolean, resolved: ResolvedOptions, session: Session) {
    this.client = client;
    this.#ownsClient = ownsClient;
    this.keyspace = new Keyspace(resolved.namespace);
    this.namespace = resolved.namespace;
    this.endpoints = resolved.endpoints;
    this.requester = new Requester(resolved.requestTimeoutMs, client);
    // The generation marker lets the hub tell a reset store from one that moved on (issue 16).
    const epoch = new EpochMarker(client, this.requester, this.keyspace.key(EPOCH_KEY));
    this.watchHub = new WatchHub(client, { epoch });
    this.ttlSeconds = resolved.ttlSeconds;
    this.#session = session;
    // Every waiter of every recipe listens here; many is normal, not a leak.
    setMaxListeners(0, this.#closed.signal);
  }

  /** @internal Shared by `connect()`: validates, builds the client and grants the default session within the dial deadline. */
  protected static async open<T extends CoordinatorCore>(
    ctor: new (client: Etcd3, owns: boolean, resolved: ResolvedOptions, session: Session) => T,
    opts: ConnectOptions,
  ): Promise<T> {
    const resolved = resolveOptions(opts);
    const owns = opts.client === undefined;
    const client = opts.client ?? createClient(opts, resolved);
    try {
      const requester = new Requester(resolved.requestTimeoutMs, client);
      const session = await dial(resolved, opts.signal, (signal) =>
        Session.grant(client, requester, { ttlSeconds: resolved.ttlSeconds, signal }),
      );
      return new ctor(client, owns, resolved, session);
    } catch (err) {
      if (owns) client.close();
      throw err;
    }
  }

  /** The default session. It may be lost (check `session.done`); recipes use {@link currentSession}. */
  get session(): Session {
    return this.#session;
  }

  /** Aborted when the coordinator closes. */
  get closedSignal(): AbortSignal {
    return this.#closed.signal;
  }

  /**
   * The default session, replaced by a freshly granted lease if the previous one was lost.
   *
   * The replacement is shared by every caller waiting for it and belongs to none of them: it runs with its
   * own deadline (`requestTimeoutMs`, retried within it), outside any caller's deadline, and only
   * `coord.close()` stops it. Each caller waits for it with its own `signal` and `timeoutMs`, so one
   * caller giving up never fails the others (issue 15, finding 5).
   *
   * @example
   * ```ts
   * const session = await coord.currentSession({ timeoutMs: 1000 });
   * ```
   *
   * @throws UnavailableError when etcd does not grant a lease within `timeoutMs` (or the renewal's own
   *   deadline)
   * @throws AbortedError when `signal` aborts or the coordinator closes
   *
   * Failure modes: a renewal that fails is not cached: the next caller starts another one.
   */
  async currentSession(opts: WaitOptions = {}): Promise<Session> {
    this.#throwIfClosed();
    const what = 'session: grant lease';
    throwIfAborted(opts.signal, what);
    if (!this.#session.done) return this.#session;
    this.#renewing ??= detached(() => this.#renew());
    if (opts.signal === undefined && opts.timeoutMs === undefined) return this.#renewing;
    const wait = withDeadline(opts.signal, opts.timeoutMs);
    try {
      return await raceAbort(
        this.#renewing,
        wait.signal,
        what,
        undefined,
        (ms) => new UnavailableError(`${what}: etcd did not grant a lease within ${ms} ms`),
      );
    } finally {
      wait.dispose();
    }
  }

  /** The shared renewal behind {@link currentSession}: bounded on its own, stopped only by `close()`. */
  #renew(): Promise<Session> {
    const renewal = withRetry(
      // A grant whose answer was lost leaves an orphan lease with no keys, which expires by its TTL.
      (_attempt, { signal }) =>
        Session.grant(this.client, this.requester, { ttlSeconds: this.ttlSeconds, signal }),
      {
        signal: this.#closed.signal,
        timeoutMs: this.requester.requestTimeoutMs,
        what: 'session: grant lease',
      },
    );
    return renewal.then(
      (s) => {
        this.#renewing = undefined;
        if (this.#closed.signal.aborted) {
          void s.close();
          throw new AbortedError('coordinator closed');
        }
        this.#session = s;
        return s;
      },
      (err: unknown) => {
        this.#renewing = undefined;
        throw err;
      },
    );
  }

  /**
   * A separate lease with its own keepalive (for a different TTL, or to fail independently). It is closed
   * by `coord.close()` unless closed before.
   *
   * @throws InvalidArgumentError for a TTL below 2 s
   * @throws UnavailableError when etcd cannot be reached in time
   */
  async newSession(opts: SessionOptions & { signal?: AbortSignal | undefined } = {}): Promise<Session> {
    this.#throwIfClosed();
    const session = await Session.grant(this.client, this.requester, {
      ttlSeconds: opts.ttlSeconds ?? this.ttlSeconds,
      ...(opts.keepaliveIntervalMs !== undefined ? { keepaliveIntervalMs: opts.keepaliveIntervalMs } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    const untrack = this.track(session);
    session.once('lost', untrack);
    const close = session.close.bind(session);
    session.close = () => {
      untrack();
      return close();
    };
    return session;
  }

  /** Registers a handle for `close()`; returns the function that unregisters it. */
  track(resource: Closable): () => void {
    this.#resources.add(resource);
    return () => void this.#resources.delete(resource);
  }

  /**
   * Releases everything made from this coordinator: recipes' handles (locks unlocked, campaigns resigned,
   * registrations removed, watches cancelled), then the default session's lease (revoked), the watch
   * stream and the client. Idempotent; completes even when etcd is unreachable.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed.abort(new AbortedError('coordinator closed'));
      const resources = [...this.#resources].reverse();
      this.#resources.clear();
      await Promise.allSettled(resources.map((r) => r.close()));
      await this.#renewing?.then(
        (s) => s.close(),
        () => undefined,
      );
      await this.#session.close();
      this.watchHub.close();
      if (this.#ownsClient) this.client.close();
    })();
    return this.#closing;
  }

  /** The same as {@link Coordinator.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * What `console.log(coord)` shows: where it connects, never the client inside, whose options and cached
   * auth token a deep inspection would otherwise print.
   */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `${this.constructor.name} { endpoints: ${JSON.stringify(this.endpoints)}, namespace: ${JSON.stringify(this.namespace)}, ttlSeconds: ${this.ttlSeconds} }`;
  }

  #throwIfClosed(): void {
    if (this.#closed.signal.aborted) throw new AbortedError('coordinator closed');
  }
}
